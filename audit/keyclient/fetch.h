// `keyclient fetch`: GET one device's bundle or all of an account's bundles from a keyserviced,
// then verify the answer with the audit core (audit/bundle_verify.h) against the verifier key
// the user pinned. Errors, by what keyclient does with them:
//   UsageError (credential_file.h): a bad option value or credential file      -> exit 2
//   audit::client::FetchError: bad URL, network, TLS or a non-2xx answer          -> exit 2
//   audit::Error: the answer does not verify (the message names the first failure), or its
//     checkpoint lacks the witness policy's quorum of fresh cosignatures             -> exit 1
#pragma once

#include <optional>
#include <string>

#include "audit/bundle_verify.h"

namespace escrowless::keyclient {

struct FetchOptions {
  std::string server;        // https://host[:port][/base]
  std::string verifier_key;  // the log's C2SP note verifier key
  std::string account;
  std::optional<std::string> device;  // one device's bundle, else every device's
  std::string credential_file;
  std::optional<std::string> ca_file;  // PEM to trust instead of the system store
  int timeout_seconds = 30;
  std::optional<std::string> witness_policy;  // require a quorum of cosignatures on the checkpoint
  std::optional<std::string> max_age;         // with witness_policy; default one day
};

// The request path: /v1/accounts/{account}/devices/{device}/bundle or /v1/accounts/{account}/bundles.
std::string bundle_path(const audit::BundleRequest& request);

audit::VerifiedBundles fetch_verified(const FetchOptions& options);

}  // namespace escrowless::keyclient
