// keyclient: fetch key bundles from a keyserviced and use them only once the audit core has
// verified them against the log (docs/protocol.md section 3).
//
//   keyclient fetch --server URL --verifier-key KEY --account A [--device D] --credential FILE
//                   [--cacert PEM] [--witness-policy FILE [--max-age DURATION]]
//
// Exit codes: 0 verified (the bundles as JSON on stdout); 1 the answer does not verify (the first
// failure on stderr); 2 usage, credential file, network or server errors.
#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>

#include "audit/client/https_client.h"
#include "audit/command_line.h"
#include "audit/error.h"
#include "audit/keyclient/bundle_json.h"
#include "audit/keyclient/credential_file.h"
#include "audit/keyclient/fetch.h"

namespace {

using escrowless::keyclient::FetchOptions;

void add_fetch_command(CLI::App& app, FetchOptions& options) {
  CLI::App* fetch = app.add_subcommand("fetch", "fetch bundles, verify them against the log, print them as JSON");
  fetch->add_option("--server", options.server, "the service's base URL, https://host[:port]")->required();
  fetch->add_option("--verifier-key", options.verifier_key,
                    "the log's verifier key (C2SP note format), from the operator, not from the server")
      ->required();
  fetch->add_option("--account", options.account, "the account whose bundles to fetch")->required();
  fetch->add_option("--device", options.device, "fetch only this device's bundle");
  fetch->add_option("--credential", options.credential_file,
                    "file holding the bearer credential (mode 0600), e.g. a device's or the admin's")
      ->required()
      ->check(CLI::ExistingFile);
  fetch->add_option("--cacert", options.ca_file, "PEM certificate(s) to trust instead of the system store")
      ->check(CLI::ExistingFile);
  fetch->add_option("--witness-policy", options.witness_policy,
                    "witness policy file: require a quorum of witness cosignatures on the checkpoint")
      ->check(CLI::ExistingFile);
  fetch->add_option("--max-age", options.max_age,
                    "with --witness-policy: cosignatures older than this do not count (e.g. 15m, 2h; default 1d)");
  fetch->add_option("--timeout", options.timeout_seconds, "seconds to wait for the server")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  // A server that closes the connection mid-write (e.g. on a refused handshake) must give an error
  // and our exit code, not kill the process with SIGPIPE (exit 141).
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"keyclient: fetch key bundles and verify them against the transparency log"};
  app.require_subcommand(1);
  FetchOptions options;
  add_fetch_command(app, options);
  if (const auto exit_code = escrowless::audit::parse_command_line(app, argc, argv)) return *exit_code;
  try {
    const auto verified = escrowless::keyclient::fetch_verified(options);
    std::cout << escrowless::keyclient::verified_bundles_json(verified).dump(2) << "\n";
    return 0;
  } catch (const escrowless::keyclient::UsageError& e) {
    std::cerr << "keyclient: " << e.what() << "\n";
    return 2;
  } catch (const escrowless::audit::client::FetchError& e) {
    std::cerr << "keyclient: " << e.what() << "\n";
    return 2;
  } catch (const escrowless::audit::Error& e) {
    if (e.kind() == escrowless::audit::ErrorKind::internal) {
      std::cerr << "keyclient: internal error: " << e.what() << "\n";
      return 2;
    }
    std::cerr << "keyclient: verification failed: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "keyclient: " << e.what() << "\n";
    return 2;
  }
}
