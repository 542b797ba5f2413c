// keyaudit: checks an Escrowless transparency log from the outside, with only the log's
// verifier key and public endpoints.
//   keyaudit verify   the whole log: signed checkpoints, consistency, the root, the no-escrow rules
//   keyaudit monitor  one account: every entry about it must be one its owner expects
// Exit codes: 0 everything verified, 1 a violation (reported), 2 usage, network or server error.
#include <CLI/CLI.hpp>

#include <csignal>
#include <exception>
#include <iostream>

#include "audit/client/https_client.h"
#include "audit/command_line.h"
#include "audit/error.h"
#include "audit/keyaudit/commands.h"

namespace ka = escrowless::keyaudit;

namespace {

void add_common(CLI::App& command, ka::CommonOptions& options) {
  CLI::Option* server = command.add_option("--server", options.server, "the key service, https://host[:port]");
  command.add_option("--tiles", options.tiles,
                     "read the log from a tlog-tiles mirror instead: its prefix URL, https:// or http:// "
                     "(every tile is checked against the signed checkpoint)")
      ->excludes(server);
  command.add_option("--verifier-key", options.verifier_key,
                     "the log's C2SP verifier key (or a file holding it), obtained out of band")
      ->required();
  command.add_option("--state", options.state, "state file: what earlier runs verified (created if missing)");
  command.add_option("--cacert", options.cacert, "PEM certificate(s) to trust for the server instead of the system's");
  command.add_flag("--json", options.json, "print the report as JSON");
  command.add_option("--witness-policy", options.witness_policy,
                     "witness policy file: require a quorum of witness cosignatures on the checkpoint");
  command.add_option("--max-age", options.max_age,
                     "with --witness-policy: cosignatures older than this do not count (e.g. 15m, 2h; default 1d)");
}

}  // namespace

int main(int argc, char** argv) {
  // A server that closes the connection mid-write (e.g. on a refused handshake) must give an error
  // and our exit code, not kill the process with SIGPIPE (exit 141).
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"keyaudit: verify an Escrowless transparency log (no escrow key, no ghost device)"};
  app.require_subcommand(1);
  ka::CommonOptions options;
  ka::MonitorOptions monitor;
  CLI::App* verify = app.add_subcommand("verify", "check the whole log: checkpoint, consistency, root, no-escrow rules");
  add_common(*verify, options);
  CLI::App* watch = app.add_subcommand("monitor", "check that every entry about an account is one its owner expects");
  add_common(*watch, options);
  verify->add_option("--also-seen", options.also_seen,
                      "checkpoints of this log published elsewhere (a witness's cosigned checkpoint, another "
                      "auditor's state file): a different root for the same size is reported as a split view")
      ->expected(1, -1);
  watch->add_option("--account", monitor.account, "the account to watch")->required();
  watch->add_option("--expect", monitor.expect, "JSON file of the account's known devices (see docs/auditor-guide.md)")
      ->required();
  if (const auto exit_code = escrowless::audit::parse_command_line(app, argc, argv)) return *exit_code;
  try {
    return verify->parsed() ? ka::run_verify(options) : ka::run_monitor(options, monitor);
  } catch (const ka::UsageError& e) {
    std::cerr << "keyaudit: " << e.what() << "\n";
  } catch (const escrowless::audit::client::FetchError& e) {
    std::cerr << "keyaudit: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "keyaudit: " << e.what() << "\n";
  }
  return 2;
}
