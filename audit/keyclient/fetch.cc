#include "audit/keyclient/fetch.h"

#include <openssl/crypto.h>

#include "audit/client/https_client.h"
#include "audit/entry_ids.h"
#include "audit/error.h"
#include "audit/json_path.h"
#include "audit/keyclient/credential_file.h"
#include "audit/verifier_key.h"
#include "audit/witness_quorum.h"

#include <chrono>

namespace escrowless::keyclient {
namespace {

// Ids go into the request path, so they are checked before anything is sent.
void check_id(const std::string& id, const char* option) {
  if (!audit::is_valid_id(id)) {
    throw UsageError(std::string(option) + " " + audit::quote(id) + " is not a valid id (1 to 64 of [A-Za-z0-9._-])");
  }
}

audit::VerifierKey read_verifier_key(const std::string& text) {
  try {
    return audit::parse_verifier_key(text);
  } catch (const audit::Error& e) {
    throw UsageError(std::string("--verifier-key: ") + e.what());
  }
}

}  // namespace

std::string bundle_path(const audit::BundleRequest& request) {
  const std::string account = "/v1/accounts/" + request.account;
  return request.device ? account + "/devices/" + *request.device + "/bundle" : account + "/bundles";
}

audit::VerifiedBundles fetch_verified(const FetchOptions& options) {
  const audit::client::ServerUrl url = audit::client::ServerUrl::parse(options.server);
  const audit::VerifierKey verifier = read_verifier_key(options.verifier_key);
  check_id(options.account, "--account");
  if (options.device) check_id(*options.device, "--device");
  const audit::BundleRequest request{options.account, options.device};
  std::optional<audit::WitnessPolicy> policy;
  uint64_t max_age = 86400;
  if (!options.witness_policy && options.max_age) throw UsageError("--max-age needs --witness-policy");
  if (options.witness_policy) {
    try {
      policy = audit::load_witness_policy(*options.witness_policy);
      if (options.max_age) max_age = audit::parse_duration(*options.max_age);
    } catch (const audit::Error& e) {
      throw UsageError(e.what());
    }
  }

  std::string body;
  {
    const Credential credential = Credential::read(options.credential_file);
    audit::client::ClientOptions client_options{options.ca_file, credential.value(), options.timeout_seconds};
    const audit::client::HttpsClient client(url, std::move(client_options));
    body = client.get(bundle_path(request));
  }
  audit::VerifiedBundles verified = audit::verify_bundles(body, verifier, request);
  if (policy) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    try {
      audit::require_quorum(*policy, verified.checkpoint_note, static_cast<uint64_t>(now.count()), max_age);
    } catch (const audit::Error& e) {
      throw audit::Error(e.kind(), std::string("checkpoint: ") + e.what());
    }
  }
  return verified;
}

}  // namespace escrowless::keyclient
