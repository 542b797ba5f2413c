// A bundles response as the server sends it (docs/protocol.md "Bundles over HTTP"), read into
// typed values and not yet verified: nothing here is trusted until bundle_verify.h has checked
// it. Reading checks form only (types, base64, hash sizes) and names the JSON path at fault;
// unknown members are ignored, so a server may add fields without breaking clients.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/hash.h"
#include "audit/key_algorithm.h"
#include "audit/prekey.h"

namespace escrowless::audit {

// Where a one-time prekey sits in its logged batch. The response's batch.count is not read:
// only the logged entry's count makes the index meaningful (docs/protocol.md section 2.2).
struct ServedBatchPosition {
  uint32_t index = 0;
  std::vector<Hash> path;
};

struct ServedPrekey {
  PrekeyKind kind = PrekeyKind::signed_prekey;
  uint32_t key_id = 0;
  std::vector<uint8_t> public_key;
  std::vector<uint8_t> signature;
  uint64_t log_index = 0;                    // the prekeys.signed entry that logged it
  std::optional<ServedBatchPosition> batch;  // one-time kinds only
};

struct ServedBundle {
  std::string account;
  std::string device;
  KeyAlgorithm identity_algorithm = KeyAlgorithm::ed25519;
  std::vector<uint8_t> identity_public_key;  // raw: 32 or 65 bytes
  uint64_t enrolled_index = 0;               // the device.enrolled entry
  std::optional<ServedPrekey> signed_prekey;
  std::optional<ServedPrekey> pq_prekey;  // pq_one_time_prekey or pq_last_resort_prekey
  std::optional<ServedPrekey> one_time_prekey;
};

struct ServedEntry {
  uint64_t index = 0;
  std::vector<uint8_t> data;  // the entry's exact bytes
  std::vector<Hash> inclusion_proof;
};

struct BundlesResponse {
  std::string checkpoint;  // the signed note
  uint64_t tree_size = 0;
  std::vector<ServedBundle> bundles;
  std::vector<ServedEntry> entries;
};

// Reads the response's JSON. Throws invalid_input naming the path ("bundles[0].one_time_prekey
// .batch.path[2]: must be base64 of 32 bytes") when a member is missing or of the wrong form.
BundlesResponse parse_bundles_response(const nlohmann::json& response);

// The same from the response body; invalid_input if it is not JSON.
BundlesResponse parse_bundles_response(std::string_view body);

}  // namespace escrowless::audit
