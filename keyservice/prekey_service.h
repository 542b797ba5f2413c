// The prekey domain: signing the prekeys a device uploads with its identity key inside the token
// (docs/protocol.md), logging them in one prekeys.signed entry, and assembling bundles, each
// one-time prekey handed out at most once. Knows nothing of HTTP.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "audit/log_entry.h"
#include "keyservice/device_keys.h"
#include "keyservice/log/sequencer.h"
#include "keyservice/log/transparency_log.h"
#include "keyservice/store/device_store.h"
#include "pkcs11/token.h"

namespace escrowless::keyservice {

struct UnsignedPrekey {
  std::uint32_t key_id = 0;
  std::vector<std::uint8_t> public_key;
};

// What a device uploads: each member optional, at least one present; a list replaces the stored
// list of its kind.
struct PrekeyUploadRequest {
  std::optional<UnsignedPrekey> signed_prekey;                       // X25519
  std::optional<UnsignedPrekey> pq_last_resort_prekey;               // ML-KEM-768
  std::optional<std::vector<UnsignedPrekey>> one_time_prekeys;       // X25519, 1 to 100
  std::optional<std::vector<UnsignedPrekey>> pq_one_time_prekeys;    // ML-KEM-768, 1 to 100
};

struct SignedUpload {
  audit::PrekeysSigned entry;  // what was logged (one-time batches as their roots)
  std::vector<audit::SignedPrekey> one_time_prekeys;     // the batches' keys with signatures,
  std::vector<audit::SignedPrekey> pq_one_time_prekeys;  // in upload order
  Receipt receipt;
};

// One device's bundle. Every log index it names is covered by `tree_size`, the size of the
// checkpoint the caller fetches after assembling it (indices only grow).
struct Bundle {
  Device device;
  std::optional<StoredPrekey> signed_prekey;
  std::optional<StoredPrekey> pq_prekey;        // one-time if any remained, else last-resort
  std::optional<StoredPrekey> one_time_prekey;  // X25519, if any remained
};

class PrekeyService {
 public:
  PrekeyService(pkcs11::Token& token, TransparencyLog& log, DeviceStore& store, DeviceKeys& keys)
      : token_(token), log_(log), store_(store), keys_(keys) {}

  // Validates (Error(invalid_input) naming the member and key id), signs every prekey in the
  // token, logs one prekeys.signed entry, then stores the prekeys. Uploads of one device run one
  // at a time, so the newest logged upload is the one stored. Error(not_found) for no such
  // device, Error(conflict) for a revoked one.
  SignedUpload upload(std::string_view account, std::string_view device, const PrekeyUploadRequest& request);

  OneTimePrekeyCounts count(std::string_view account, std::string_view device);

  // Claims at most one one-time prekey of each kind. Error(not_found) / Error(conflict) as above.
  // `reader`: the hash of a device credential still to check, in the bundle's own read
  // (DeviceStore::take_bundle); Error(unauthenticated) if it is no active device's.
  Bundle bundle(std::string_view account, std::string_view device,
                const std::optional<audit::Hash>& reader = std::nullopt);
  // Bundles of every active device of the account, in enrollment order.
  std::vector<Bundle> bundles(std::string_view account);

 private:
  pkcs11::Token& token_;
  TransparencyLog& log_;
  DeviceStore& store_;
  DeviceKeys& keys_;
};

}  // namespace escrowless::keyservice
