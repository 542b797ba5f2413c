// What a client checks before it uses a key bundle (docs/protocol.md section 3), as one call an
// app can link: the checkpoint's signature under the pinned verifier key, every entry's
// inclusion proof against it, that the entries say what the bundle claims (the logged identity
// key, the logged prekeys and batch roots), each one-time prekey's path in its logged batch, and
// every prekey signature under the logged identity key. The server's tests, keyclient and apps
// all use this one implementation.
//
// Not checked here, because one response can't show it: that the checkpoint is consistent with
// checkpoints seen before (a split view; keyaudit keeps that state), that the device has not
// been revoked since, and that the prekeys are the newest the device uploaded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/bundle_response.h"
#include "audit/checkpoint.h"
#include "audit/key_algorithm.h"
#include "audit/prekey.h"
#include "audit/verifier_key.h"

namespace escrowless::audit {

// What the client asked for: every bundle of `account`, or the one bundle of `device`.
struct BundleRequest {
  std::string account;
  std::optional<std::string> device;
};

struct VerifiedPrekey {
  PrekeyKind kind = PrekeyKind::signed_prekey;
  uint32_t key_id = 0;
  std::vector<uint8_t> public_key;
  std::vector<uint8_t> signature;
  uint64_t log_index = 0;  // the prekeys.signed entry that logged it (or its batch)
};

struct VerifiedBundle {
  std::string account;
  std::string device;
  KeyAlgorithm identity_algorithm = KeyAlgorithm::ed25519;
  std::vector<uint8_t> identity_public_key;
  uint64_t enrolled_index = 0;
  std::optional<VerifiedPrekey> signed_prekey;
  std::optional<VerifiedPrekey> pq_prekey;  // one-time if the server had any left, else last-resort
  std::optional<VerifiedPrekey> one_time_prekey;
};

struct VerifiedBundles {
  std::string checkpoint_note;  // the signed note, to keep or compare with other auditors
  Checkpoint checkpoint;
  std::vector<VerifiedBundle> bundles;  // in the response's order
};

// Verifies `response` against the log's `verifier` key (pinned by the client, never taken from
// the server being checked) and `request`. Returns the bundles only if everything checks;
// otherwise throws audit::Error naming the first failure, prefixed by where it is:
// "checkpoint: ...", "entry 7: ...", "device 9f2c: one-time prekey 17: batch path does not lead
// to the logged root". Kinds: mismatch when well-formed data does not check (a signature, a
// proof, an entry that says something else, a bundle for another account or device);
// invalid_input when the response is malformed (an entry that does not parse, a proof of the
// wrong length, a member naming an entry the response does not hold).
VerifiedBundles verify_bundles(const BundlesResponse& response, const VerifierKey& verifier,
                               const BundleRequest& request);

// parse_bundles_response(body), then the above.
VerifiedBundles verify_bundles(std::string_view body, const VerifierKey& verifier,
                               const BundleRequest& request);

// "signed prekey", "last-resort PQ prekey", "one-time prekey", "one-time PQ prekey": the words
// the messages above use.
std::string_view describe(PrekeyKind kind) noexcept;

}  // namespace escrowless::audit
