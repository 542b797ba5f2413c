// What differs between the device store's backends (SQLite, PostgreSQL): SQL and transactions.
// The logic every backend shares (one-time keys claimed ahead, group commit, the refiller, the
// cache of current prekeys) lives once, in ClaimingDeviceStore (claiming_device_store.h), over
// this interface.
//
// Conventions: every call is one transaction of its own, with DeviceStore's error kinds and
// checks (ids and arguments are checked by the caller before a backend is called). A device is
// named inside a backend by its row id, stable for as long as the device exists.
//
// One-time prekeys: each stored one-time list (a device and kind, one uploaded batch) has a claim
// cursor; its keys below the cursor are claimed. A claim reads the cursor and the next keys and
// moves the cursor past them in one write transaction that excludes every other claim of the
// list (SQLite's write lock; PostgreSQL's row lock on the list), so each key goes out at most
// once across threads, store objects, processes and nodes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "keyservice/store/device_store.h"

namespace escrowless::keyservice {

// A one-time prekey claimed ahead. The keys of one claim share their batch's leaf hashes (3.2
// to 4.5 KB for a batch of 100), so a reserved key holds little more than itself; its batch
// position is made when it is handed out.
struct ReservedKey {
  StoredPrekey key;  // batch unset; key.log_index is its list's
  std::shared_ptr<const std::vector<audit::Hash>> leaves;
  std::uint32_t index = 0;
  std::size_t bytes = 0;  // what it counts against the reserve's memory bound
  StoredPrekey hand_out() &&;
};

// Up to `limit` one-time prekeys of a list, lowest key ids first, claimed: the list's cursor
// moved from `from` to `to` (equal if none was left).
struct Claim {
  std::vector<ReservedKey> keys;
  std::int64_t from = 0, to = 0;
};

// A claim's keys as a backend read them, made into ReservedKeys that share `leaves` and count
// their share of it. Error(integrity) if a batch index is outside the leaves.
struct ClaimedRow {
  StoredPrekey key;
  std::int64_t batch_index = 0;
};
std::vector<ReservedKey> reserve_keys(std::vector<ClaimedRow> rows,
                                      std::shared_ptr<const std::vector<audit::Hash>> leaves);

// What a bundle reads of a device in one snapshot, credential check included.
struct BundleSnapshot {
  Device device;
  std::int64_t row_id = 0;
  // -1: no prekeys stored yet (a stored prekeys_index follows the enrollment, so it is above 0).
  std::int64_t prekeys_index = -1;
  // Per one-time kind: whether unclaimed keys are stored, and the log index of the stored list
  // (-1: none). Keys claimed ahead from any other list are stale (replaced, maybe by another
  // node) and are never handed out.
  bool one_time = false, pq_one_time = false;
  std::int64_t one_time_list = -1, pq_one_time_list = -1;
  std::optional<CurrentPrekeys> current;  // when asked for
};

// Inside one write transaction of claims (DeviceBackend::write_claims).
class ClaimTransaction {
 public:
  virtual ~ClaimTransaction() = default;
  // Runs `member` under a savepoint: if it throws, what it wrote is undone and the exception
  // passes on; the transaction goes on.
  virtual void member(const std::function<void()>& member) = 0;
  // The active device's row id: Error(not_found), Error(conflict) if revoked.
  virtual std::int64_t active_device(std::string_view account, std::string_view device) = 0;
  virtual CurrentPrekeys current(std::int64_t row) = 0;
  // Claims up to `limit` keys of `kind` from the device's list.
  virtual Claim claim(std::int64_t row, PrekeyKind kind, std::size_t limit) = 0;
};

// Keys claimed ahead to put back: the list's cursor moves back to `back_to` if the list is still
// the one of `list_index` and its cursor is still `run_end` (nobody claimed after us).
struct Rewind {
  std::int64_t row = 0;
  PrekeyKind kind = PrekeyKind::one_time_prekey;
  std::int64_t list_index = 0, back_to = 0, run_end = 0;
};

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;

  // Called after a write committed, before the backend lets its next write of this process
  // start (SQLite: under its write mutex), with the device's row id.
  using Committed = std::function<void(std::int64_t row)>;

  virtual void add_device(const Device& device, const audit::Hash& credential_sha256) = 0;
  virtual std::optional<Device> find_device(std::string_view account, std::string_view device) = 0;
  // The stored hash is compared with the presented one in full with CRYPTO_memcmp (same_credential).
  virtual std::optional<Device> find_device_by_credential(std::span<const std::uint8_t> credential_sha256) = 0;
  virtual std::vector<Device> list_devices(std::string_view account) = 0;
  virtual std::uint64_t count_active_devices(std::string_view account) = 0;
  virtual void revoke_device(std::string_view account, std::string_view device, const Revocation& revocation,
                             const Committed& committed) = 0;
  virtual void store_prekeys(std::string_view account, std::string_view device, const PrekeyUpload& upload,
                             const Committed& committed) = 0;
  // The unclaimed stored keys, and the device's row id.
  virtual std::pair<OneTimePrekeyCounts, std::int64_t> count_one_time_prekeys(std::string_view account,
                                                                              std::string_view device) = 0;
  virtual CurrentPrekeys current_prekeys(std::string_view account, std::string_view device) = 0;
  // One read snapshot; `with_current` adds the current prekeys to it. The reader's credential is
  // checked first, so one who presents none valid learns nothing of the device:
  // Error(unauthenticated), then Error(not_found), then Error(conflict) if revoked.
  virtual BundleSnapshot bundle_snapshot(std::string_view account, std::string_view device,
                                         const std::optional<audit::Hash>& reader, bool with_current) = 0;
  // Runs `body` in one write transaction and commits it (one fsync for every claim in it), then
  // calls `committed` (with row 0) as for the writes above. If the transaction fails, nothing
  // was claimed; the error passes on.
  virtual void write_claims(const std::function<void(ClaimTransaction&)>& body,
                            const std::function<void()>& committed) = 0;
  // Puts keys claimed ahead back, in one transaction; whether each rewind took effect.
  virtual std::vector<bool> put_back(std::span<const Rewind> rewinds) = 0;
  virtual std::uint64_t reconciled_log_size() = 0;
  virtual void set_reconciled_log_size(std::uint64_t size) = 0;
  virtual std::uint64_t log_size_needed() = 0;
};

// Whether `stored` (a credential hash an index lookup found) is `presented`: the full comparison
// does not depend on where the bytes differ.
bool same_credential(std::span<const std::uint8_t> stored, std::span<const std::uint8_t> presented);

}  // namespace escrowless::keyservice
