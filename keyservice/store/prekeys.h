// Prekeys as the device store keeps them: a stored (already signed) prekey with the log entry
// that published it, a one-time key's place in its logged batch, and an upload. Plain values,
// free of any storage type. The kinds, sizes, signature message and batch leaf format are the
// audit core's (audit/prekey.h, audit/prekey_batch.h), so clients check exactly what is stored.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "audit/hash.h"
#include "audit/log_entry.h"
#include "audit/prekey.h"

namespace escrowless::keyservice {

using audit::PrekeyKind;

// Where a one-time prekey sits in the batch its `prekeys.signed` entry logged as a Merkle root:
// leaf `index` of the RFC 6962 tree over `leaf_hashes` (the whole batch in upload order, each
// audit::prekey_batch_leaf_hash of its key).
struct PrekeyBatchPosition {
  std::uint32_t index = 0;
  // Shared by the keys of one batch that one claim handed out, not copied for each (3.2 KB for
  // 100 keys).
  std::shared_ptr<const std::vector<audit::Hash>> leaf_hashes;

  // The leaves (none if leaf_hashes is null).
  const std::vector<audit::Hash>& leaves() const noexcept;
  std::uint32_t count() const noexcept { return static_cast<std::uint32_t>(leaves().size()); }
  // The batch root (the entry's `root`).
  audit::Hash root() const;
  // The key's inclusion proof in the batch, in proof order, as audit::verify_prekey_in_batch()
  // takes it. Requires index < count(); throws Error(internal) otherwise.
  std::vector<audit::Hash> path() const;

  // The same position in a batch of the same leaves (compared by value).
  friend bool operator==(const PrekeyBatchPosition& a, const PrekeyBatchPosition& b) noexcept {
    return a.index == b.index && (a.leaf_hashes == b.leaf_hashes || a.leaves() == b.leaves());
  }
};

struct StoredPrekey {
  PrekeyKind kind = PrekeyKind::signed_prekey;
  audit::SignedPrekey key;                   // key id, public key, the service's signature
  std::uint64_t log_index = 0;               // of the `prekeys.signed` entry that logged it
  std::optional<PrekeyBatchPosition> batch;  // one-time kinds only

  friend bool operator==(const StoredPrekey&, const StoredPrekey&) = default;
};

// What one `prekeys.signed` entry published; at least one member is present. Each present
// member replaces everything stored of its kind for the device. A batch is in upload order, the
// order of its leaves; the store computes and keeps their leaf hashes.
struct PrekeyUpload {
  std::uint64_t log_index = 0;  // of that entry; at most INT64_MAX
  std::optional<audit::SignedPrekey> signed_prekey;
  std::optional<audit::SignedPrekey> pq_last_resort_prekey;
  std::optional<std::vector<audit::SignedPrekey>> one_time_prekeys;     // 1 to 100 keys
  std::optional<std::vector<audit::SignedPrekey>> pq_one_time_prekeys;  // 1 to 100 keys
};

struct OneTimePrekeyCounts {
  std::uint64_t one_time = 0;     // X25519
  std::uint64_t pq_one_time = 0;  // ML-KEM-768

  friend bool operator==(const OneTimePrekeyCounts&, const OneTimePrekeyCounts&) = default;
};

struct CurrentPrekeys {
  std::optional<StoredPrekey> signed_prekey;
  std::optional<StoredPrekey> pq_last_resort_prekey;

  friend bool operator==(const CurrentPrekeys&, const CurrentPrekeys&) = default;
};

// One one-time prekey of each kind, each claimed in the store (handed out at most once, ever).
struct ClaimedPrekeys {
  std::optional<StoredPrekey> one_time;
  std::optional<StoredPrekey> pq_one_time;
};

// Throws Error(invalid_input) naming the member at fault ("one_time_prekeys[3].public_key:
// X25519 keys are 32 bytes, got 31", "pq_one_time_prekeys: key id 7 appears twice") unless: at
// least one member is present; public keys have their kind's size and signatures 64 bytes; each
// batch has 1 to audit::kMaxPrekeyBatch keys with distinct key ids; and log_index fits the store
// (at most INT64_MAX). Signatures are not verified: the domain made them in the token.
void check_prekey_upload(const PrekeyUpload& upload);

}  // namespace escrowless::keyservice
