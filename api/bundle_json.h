// The body of GET .../bundle and GET .../bundles (docs/protocol.md "Bundles"), written straight
// into one string instead of built as an nlohmann::json tree and dumped: a bundle fetch is the
// hottest route, and the tree (with base64 of a 1184-byte ML-KEM key per bundle) cost about as much
// as TLS and HTTP together. The text is byte for byte what nlohmann::json::dump() gives for the
// same members (objects with their members in sorted order, no whitespace), so clients and tests
// see no difference.
//
// What does not change from fetch to fetch is kept as finished JSON text, each piece keyed by
// everything it is made of, so a piece is reused only when its inputs are equal to what the store
// returned this time and there is nothing to invalidate: a device's identity key part (by the whole
// Device), its signed and last-resort prekeys (by the whole StoredPrekey), each log entry's base64
// (by index: the log is append-only, and one BundleJson serves one log) and its inclusion proof (by
// index and tree size). One-time prekeys go out once and are written fresh, but the tree of the
// batch each came in is kept (by entry and kind, reused only for equal leaves), so its path to the
// batch root costs no hashing after the batch's first key. Memory is bounded: each cache is
// emptied when it reaches its limit.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "audit/prekey_batch.h"
#include "keyservice/log/transparency_log.h"
#include "keyservice/prekey_service.h"

namespace escrowless::api {

class BundleJson {
 public:
  explicit BundleJson(keyservice::TransparencyLog& log) : log_(log) {}

  // {"bundles":[...],"checkpoint":...,"entries":[...],"tree_size":...}: the bundles, the log
  // entries they name with inclusion proofs against the checkpoint served to clients that covers
  // them (TransparencyLog::head_covering, fetched now, after the bundles were assembled; without
  // a witness policy the newest signed checkpoint, which covers every index they name).
  // Error(unavailable) before the log's first signed checkpoint.
  std::string write(const std::vector<keyservice::Bundle>& bundles);

  static constexpr std::size_t kMaxDevices = 4096;
  static constexpr std::size_t kMaxEntries = 8192;
  static constexpr std::size_t kMaxBatches = 2048;  // up to 6.4 KB each (100 leaves)

  // How many pieces each cache holds now; none ever holds more than its kMax*.
  struct CacheSizes {
    std::size_t devices = 0, entries = 0, batches = 0;
  };
  CacheSizes cache_sizes() const;

 private:
  // A device's unchanging parts, with what they were made of.
  struct DeviceParts {
    keyservice::Device device;
    std::string identity;  // "account":..,"device_id":..,"identity_key":{..}
    std::optional<keyservice::StoredPrekey> signed_prekey, pq_prekey;
    std::string signed_json, pq_json;  // the objects, when the keys above are set
  };
  struct EntryParts {
    std::string data;          // base64 of the entry, quoted
    std::uint64_t proof_size = 0;
    std::string proof;         // the inclusion proof against proof_size, as a JSON array
  };

  std::shared_ptr<const DeviceParts> device_parts(const keyservice::Bundle& bundle);
  std::shared_ptr<const EntryParts> entry_parts(std::uint64_t index, std::uint64_t tree_size);
  void append_prekey(std::string& out, const keyservice::StoredPrekey& key);
  std::vector<audit::Hash> batch_path(const keyservice::StoredPrekey& key);

  keyservice::TransparencyLog& log_;
  mutable std::mutex mutex_;
  // Hash maps: with thousands of devices a tree's lookups were a dozen cache misses each.
  std::unordered_map<std::string, std::shared_ptr<const DeviceParts>> devices_;  // by account, NUL, device
  std::unordered_map<std::uint64_t, std::shared_ptr<const EntryParts>> entries_;
  struct CachedBatch {
    std::shared_ptr<const std::vector<audit::Hash>> leaves;  // as last handed out with a key
    std::shared_ptr<const audit::PrekeyBatchTree> tree;
  };
  struct BatchId {  // the prekeys.signed entry's index and the batch's kind
    std::uint64_t log_index;
    audit::PrekeyKind kind;
    bool operator==(const BatchId&) const = default;
  };
  struct BatchIdHash {
    std::size_t operator()(const BatchId& id) const noexcept {
      return std::hash<std::uint64_t>{}(id.log_index * 4 + static_cast<std::uint64_t>(id.kind));
    }
  };
  std::unordered_map<BatchId, CachedBatch, BatchIdHash> batches_;
  std::shared_ptr<const keyservice::TransparencyLog::SignedHead> head_;  // of note_json_
  std::string note_json_;
};

// Appends `text` as a JSON string, escaped as nlohmann::json::dump() escapes it (ASCII control
// characters, '"' and '\\'; other bytes as they are, invalid UTF-8 replaced by U+FFFD). Exposed
// for the tests.
void append_json_string(std::string& out, std::string_view text);

}  // namespace escrowless::api
