#include "audit/bundle_verify.h"

#include <map>
#include <set>
#include <span>
#include <tuple>
#include <variant>

#include "audit/error.h"
#include "audit/log_entry.h"
#include "audit/prekey_batch.h"
#include "audit/proof_verify.h"

namespace escrowless::audit {
namespace {

// Runs `check`; an audit::Error it throws comes back with "<where>: " before its message and
// the same kind, so the caller learns which part of the response failed.
template <typename F>
auto within(const std::string& where, F&& check) {
  try {
    return check();
  } catch (const Error& e) {
    throw Error(e.kind(), where + ": " + e.what());
  }
}

using ProvenEntries = std::map<uint64_t, LogEntry>;

Checkpoint verify_checkpoint(const BundlesResponse& response, const VerifierKey& verifier) {
  Checkpoint checkpoint = within("checkpoint", [&] {
    return open_checkpoint(response.checkpoint, verifier.name(), std::span(&verifier, 1));
  });
  if (checkpoint.size != response.tree_size) {
    throw mismatch("checkpoint: its tree size " + std::to_string(checkpoint.size) + " is not the response's tree_size " +
                   std::to_string(response.tree_size));
  }
  return checkpoint;
}

// Every entry, once its inclusion proof against the checkpoint holds, parsed.
ProvenEntries verify_entries(const BundlesResponse& response, const Checkpoint& checkpoint) {
  ProvenEntries proven;
  for (const ServedEntry& served : response.entries) {
    const std::string where = "entry " + std::to_string(served.index);
    if (proven.contains(served.index)) throw invalid_input(where + ": appears twice in the response");
    try {
      verify_inclusion(served.index, checkpoint.size, leaf_hash(served.data), served.inclusion_proof, checkpoint.root);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::mismatch) throw Error(e.kind(), where + ": " + e.what());
      throw mismatch(where + ": inclusion proof does not lead to the checkpoint's root");
    }
    proven.emplace(served.index, within(where, [&] { return parse_entry(served.data); }));
  }
  return proven;
}

// The proven entry at `index` if it has type T; throws naming what was found instead.
template <typename T>
const T& proven_entry(const ProvenEntries& proven, uint64_t index, const std::string& where) {
  const auto found = proven.find(index);
  if (found == proven.end()) {
    throw invalid_input(where + ": log entry " + std::to_string(index) + " is not among the response's entries");
  }
  const T* entry = std::get_if<T>(&found->second.body);
  if (entry == nullptr) {
    throw mismatch(where + ": log entry " + std::to_string(index) + " is a " + std::string(to_string(found->second.type())) +
                   " entry, not " + std::string(to_string(T::kType)));
  }
  return *entry;
}

const DeviceEnrolled& verify_identity(const ServedBundle& bundle, const ProvenEntries& proven, const std::string& device_where) {
  const std::string where = device_where + ": identity key";
  const std::string entry_name = "log entry " + std::to_string(bundle.enrolled_index);
  const DeviceEnrolled& enrolled = proven_entry<DeviceEnrolled>(proven, bundle.enrolled_index, where);
  if (enrolled.account != bundle.account || enrolled.device != bundle.device) {
    throw mismatch(where + ": " + entry_name + " enrolls device " + enrolled.device + " of account " + enrolled.account);
  }
  if (enrolled.identity_key.algorithm != bundle.identity_algorithm ||
      enrolled.identity_key.public_key != bundle.identity_public_key) {
    throw mismatch(where + ": the bundle's key is not the one " + entry_name + " logged");
  }
  return enrolled;
}

// The slot of a bundle and the kinds it may hold.
bool slot_holds(std::string_view slot, PrekeyKind kind) {
  if (slot == "signed_prekey") return kind == PrekeyKind::signed_prekey;
  if (slot == "pq_prekey") return kind == PrekeyKind::pq_one_time_prekey || kind == PrekeyKind::pq_last_resort_prekey;
  return kind == PrekeyKind::one_time_prekey;
}

VerifiedPrekey verify_prekey(std::string_view slot, const ServedPrekey& served, const ServedBundle& bundle,
                             const DeviceEnrolled& enrolled, const ProvenEntries& proven, const std::string& device_where) {
  if (!slot_holds(slot, served.kind)) {
    throw mismatch(device_where + ": " + std::string(slot) + " holds a " + std::string(to_string(served.kind)));
  }
  const std::string where = device_where + ": " + std::string(describe(served.kind)) + " " + std::to_string(served.key_id);
  const std::string entry_name = "log entry " + std::to_string(served.log_index);
  const PrekeysSigned& logged = proven_entry<PrekeysSigned>(proven, served.log_index, where);
  if (logged.account != bundle.account || logged.device != bundle.device) {
    throw mismatch(where + ": " + entry_name + " logs prekeys of device " + logged.device + " of account " + logged.account);
  }
  if (logged.identity_key_sha256 != enrolled.identity_key.public_key_sha256()) {
    throw mismatch(where + ": " + entry_name + " logs prekeys signed by another identity key");
  }
  const std::vector<uint8_t> message =
      within(where, [&] { return prekey_signature_message(served.kind, bundle.account, bundle.device, served.key_id, served.public_key); });
  const bool signature_ok = within(where, [&] {
    return verify_prekey_signature(enrolled.identity_key.algorithm, enrolled.identity_key.public_key, message, served.signature);
  });
  if (!signature_ok) throw mismatch(where + ": signature does not verify under the logged identity key");

  if (is_one_time(served.kind)) {
    const bool x25519 = served.kind == PrekeyKind::one_time_prekey;
    const std::optional<PrekeyBatch>& batch = x25519 ? logged.one_time_prekeys : logged.pq_one_time_prekeys;
    if (!batch) {
      throw mismatch(where + ": " + entry_name + " logs no " + (x25519 ? "one_time_prekeys" : "pq_one_time_prekeys") + " batch");
    }
    if (!served.batch) throw invalid_input(where + ": no batch position");
    try {
      verify_prekey_in_batch(served.kind, served.key_id, served.public_key, served.signature, served.batch->index, batch->count,
                             served.batch->path, batch->root);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::mismatch) throw Error(e.kind(), where + ": " + e.what());
      throw mismatch(where + ": batch path does not lead to the logged root");
    }
  } else {
    const bool x25519 = served.kind == PrekeyKind::signed_prekey;
    const std::optional<SignedPrekey>& logged_key = x25519 ? logged.signed_prekey : logged.pq_last_resort_prekey;
    const std::string member = std::string(to_string(served.kind));
    if (!logged_key) throw mismatch(where + ": " + entry_name + " logs no " + member);
    if (logged_key->key_id != served.key_id || logged_key->public_key != served.public_key ||
        logged_key->signature != served.signature) {
      throw mismatch(where + ": not the " + member + " that " + entry_name + " logged");
    }
  }
  return VerifiedPrekey{served.kind, served.key_id, served.public_key, served.signature, served.log_index};
}

void check_request(const BundlesResponse& response, const BundleRequest& request) {
  std::set<std::string> devices;
  for (const ServedBundle& bundle : response.bundles) {
    const std::string where = "device " + bundle.device;
    if (bundle.account != request.account) {
      throw mismatch(where + ": a bundle of account " + bundle.account + ", not the requested " + request.account);
    }
    if (request.device && bundle.device != *request.device) throw mismatch(where + ": not the requested device " + *request.device);
    if (!devices.insert(bundle.device).second) throw mismatch(where + ": two bundles in one response");
  }
  if (request.device && response.bundles.size() != 1) {
    throw mismatch("the response holds " + std::to_string(response.bundles.size()) + " bundles, not the one of device " +
                   *request.device);
  }
}

}  // namespace

std::string_view describe(PrekeyKind kind) noexcept {
  switch (kind) {
    case PrekeyKind::signed_prekey: return "signed prekey";
    case PrekeyKind::pq_last_resort_prekey: return "last-resort PQ prekey";
    case PrekeyKind::one_time_prekey: return "one-time prekey";
    case PrekeyKind::pq_one_time_prekey: return "one-time PQ prekey";
  }
  return "prekey";
}

VerifiedBundles verify_bundles(const BundlesResponse& response, const VerifierKey& verifier, const BundleRequest& request) {
  VerifiedBundles verified;
  verified.checkpoint = verify_checkpoint(response, verifier);
  verified.checkpoint_note = response.checkpoint;
  const ProvenEntries proven = verify_entries(response, verified.checkpoint);
  check_request(response, request);
  for (const ServedBundle& bundle : response.bundles) {
    const std::string where = "device " + bundle.device;
    const DeviceEnrolled& enrolled = verify_identity(bundle, proven, where);
    VerifiedBundle out{bundle.account, bundle.device, bundle.identity_algorithm, bundle.identity_public_key, bundle.enrolled_index,
                       std::nullopt, std::nullopt, std::nullopt};
    for (auto [slot, served, result] : {std::tuple{"signed_prekey", &bundle.signed_prekey, &out.signed_prekey},
                                        std::tuple{"pq_prekey", &bundle.pq_prekey, &out.pq_prekey},
                                        std::tuple{"one_time_prekey", &bundle.one_time_prekey, &out.one_time_prekey}}) {
      if (*served) *result = verify_prekey(slot, **served, bundle, enrolled, proven, where);
    }
    verified.bundles.push_back(std::move(out));
  }
  return verified;
}

VerifiedBundles verify_bundles(std::string_view body, const VerifierKey& verifier, const BundleRequest& request) {
  return verify_bundles(parse_bundles_response(body), verifier, request);
}

}  // namespace escrowless::audit
