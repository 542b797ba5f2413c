// DeviceStore in one SQLite file, devices.db (WAL, synchronous=FULL), beside the log's log.db.
// Schema version 2 (sqlite_device_schema.h), recorded in `meta` and checked on open (a version 1
// file is upgraded in place):
//
//   meta(key, value)            "schema" = "escrowless.devices", "schema_version" = "2"
//   devices(id, account, device, algorithm, token_key_id, public_key, public_key_sha256,
//           enrolled_index, enrolled_time, revoked_index, revoked_time, prekeys_index)
//   credentials(sha256, device_id)          one per active device; deleted on revocation
//   prekey_batches(id, device_id, log_index, kind, leaf_hashes)   one per stored one-time batch:
//                      audit::prekey_batch_leaf_hash of each key in upload order, concatenated
//   prekeys(device_id, kind, key_id, public_key, signature, log_index, batch_id, batch_index)
//   one_time_lists(device_id, kind, log_index, last_key_id, next_key_id)   one per stored
//                      one-time list (log_index: its entry; last_key_id: its highest key id):
//                      its keys below next_key_id, the claim cursor, are claimed
//
// Times are milliseconds since the Unix epoch; kinds are audit::to_string(PrekeyKind). prekeys
// has one row per stored key, keyed (device_id, kind, key_id), with at most one signed and one
// last-resort prekey per device (a partial unique index).
//
// A one-time list's rows (and its batch) stay until the list is replaced or the device revoked;
// claimed keys are those below the cursor.
//
// Each call borrows its own connection (sqlite_pool.h) and runs in one transaction: BEGIN
// IMMEDIATE for writes, one statement or a read snapshot for reads. A one-time prekey claim
// reads the cursor and the next keys from it, lowest key id first, and moves the cursor past
// them, all inside BEGIN IMMEDIATE, so SQLite's write lock, not a mutex of ours, makes each key
// go out once across threads, store objects and processes. Moving one cursor writes one small
// row where deleting the keys wrote a table and two index pages each.
//
// Credential lookup is an index lookup on SHA-256 of a 256-bit random secret. Its timing can at
// most reveal how many leading bytes of the presented hash match a stored hash; an attacker
// can't choose those bytes (a hash with a chosen k-byte prefix costs about 2^(8k) tries), and
// knowing a prefix of a stored hash brings no one closer to the secret behind it. The stored
// hash is still compared in full with CRYPTO_memcmp before a device is returned.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "keyservice/store/device_store.h"
#include "keyservice/store/sqlite_pool.h"

namespace escrowless::keyservice {

class SqliteDeviceStore final : public DeviceStore {
 public:
  // Opens devices.db at `path`. With create, a missing or empty file gets the schema; an existing
  // devices database is opened as is. Error(not_found) if !create and there is no file;
  // Error(integrity) if the file is not a devices database or has another schema version;
  // Error(unavailable) if SQLite can't open it.
  static std::unique_ptr<SqliteDeviceStore> open(const std::string& path, bool create);
  // As above, with at most `max_reserved_bytes` of memory for one-time keys claimed ahead (in
  // all devices' reserves together; past it, bundles claim one key at a time).
  static std::unique_ptr<SqliteDeviceStore> open(const std::string& path, bool create,
                                                 std::size_t max_reserved_bytes);

  // Puts the one-time keys claimed ahead and not handed out back into the database, so a clean
  // shutdown loses none (a crash loses them; none is ever handed out twice).
  ~SqliteDeviceStore() override;

  // One-time keys claimed ahead per kind and device, and the memory they may hold in all
  // reserves together by default: an X25519 key about 0.4 KB, an ML-KEM-768 key about 1.6 KB
  // (with its share of its batch's leaf hashes), so 64 MiB hold 40,000 to 160,000 keys.
  static constexpr std::size_t kClaimAhead = 32;
  // A device's reserve of a kind is refilled in the background when a bundle leaves this many.
  static constexpr std::size_t kRefillAt = 8;
  static constexpr std::size_t kMaxReservedBytes = std::size_t{64} << 20;

  // The memory the keys claimed ahead hold now, as counted against the bound.
  std::size_t reserved_bytes();

  void add_device(const Device& device, const audit::Hash& credential_sha256) override;
  std::optional<Device> find_device(std::string_view account, std::string_view device) override;
  std::optional<Device> find_device_by_credential(
      std::span<const std::uint8_t> credential_sha256) override;
  std::vector<Device> list_devices(std::string_view account) override;
  std::uint64_t count_active_devices(std::string_view account) override;
  void revoke_device(std::string_view account, std::string_view device,
                     const Revocation& revocation) override;
  void store_prekeys(std::string_view account, std::string_view device,
                     const PrekeyUpload& upload) override;
  OneTimePrekeyCounts count_one_time_prekeys(std::string_view account,
                                             std::string_view device) override;
  std::optional<StoredPrekey> claim_one_time_prekey(std::string_view account,
                                                    std::string_view device,
                                                    PrekeyKind kind) override;
  CurrentPrekeys current_prekeys(std::string_view account, std::string_view device) override;
  BundleMaterial take_bundle(std::string_view account, std::string_view device,
                             const std::optional<audit::Hash>& reader) override;
  std::uint64_t reconciled_log_size() override;
  void set_reconciled_log_size(std::uint64_t size) override;
  std::uint64_t log_size_needed() override;

 private:
  SqliteDeviceStore(const std::string& path, std::size_t max_reserved_bytes);

  sqlite::ConnectionPool pool_;
  // Held around every write transaction of this process. Writers of one process then queue here
  // instead of in SQLite's busy handler, which polls with sleeps of up to 100 ms; other processes
  // still meet the busy timeout.
  std::mutex write_mutex_;

  // One-time prekeys claimed ahead: a bundle that needs a one-time key claims up to kClaimAhead
  // of each kind in one durable transaction and hands the rest out from memory, so fetches pay
  // one fsync per kClaimAhead keys instead of one each. A key is claimed in the database (its
  // list's cursor moved past it) before it is handed out, so none is ever handed out twice; a
  // crash loses the reserve (at most kClaimAhead keys of each kind per device, which devices
  // replenish as they do any other shortfall). Uploads replacing a list and revocations drop the
  // device's reserve; a clean shutdown puts what is left back by moving the cursor back.
  //
  // A one-time prekey claimed ahead. The keys of one claim from one batch share that batch's
  // leaf hashes (3.2 to 4.5 KB for a batch of 100), so a reserved key holds little more than
  // itself; its batch position is made when it is handed out.
  struct ReservedKey {
    StoredPrekey key;  // batch unset
    std::shared_ptr<const std::vector<audit::Hash>> leaves;
    std::uint32_t index = 0;
    std::size_t bytes = 0;  // what it counts against the bound
    StoredPrekey hand_out() &&;
  };
  // Up to `limit` unclaimed one-time prekeys of `kind`, lowest key ids first, with their batch
  // positions, claimed: the list's cursor moved from `from` to `to` (equal if none was left).
  // The caller holds a write transaction.
  struct Claim {
    std::vector<ReservedKey> keys;
    std::int64_t from = 0, to = 0;
  };
  static Claim claim_in(sqlite::Connection& connection, std::int64_t device_id, PrekeyKind kind,
                        std::size_t limit);
  struct Queue {
    std::deque<ReservedKey> keys;  // lowest key id first
    // The latest run of this store's claims with no one else's in between: its first key id, and
    // the cursor its last claim left (-1: none). What is left of it can be given back.
    std::int64_t run_start = 0, run_end = -1;
  };
  struct Reserve {
    Queue one_time, pq_one_time;
    bool empty() const { return one_time.keys.empty() && pq_one_time.keys.empty(); }
  };
  // Claims of concurrent bundles are written together (group commit): a bundle that must claim
  // queues its request; the first one to find no group being written leads, takes every queued
  // request into one write transaction (one fsync for all), puts what each claimed into the
  // reserves and wakes the others, each of which then takes its keys from the reserve under the
  // same rule as any reserve hit. Each request runs under its own savepoint, so one that fails
  // (a device revoked meanwhile) fails alone; a failed commit fails them all and claims nothing.
  // A request for a device that an earlier request of the group already claimed ahead for takes
  // one of those keys instead of claiming more.
  //
  // Refills: when a bundle leaves kRefillAt keys of a kind in a device's reserve, a refill of
  // kClaimAhead more is queued for the refiller thread, so a device fetched often finds its
  // next keys claimed before its reserve runs out instead of waiting for a claim's fsync.
  // Refills join groups like any claim and take nothing themselves.
  struct ClaimRequest {
    std::string_view account, device;
    bool x25519 = false, pq = false;
    std::size_t ahead = 0;
    bool take = true;  // false: a refill
    // Set by the group's leader:
    bool done = false;
    std::exception_ptr error;
    CurrentPrekeys current;
    ClaimedPrekeys claimed;
  };
  struct Refill {
    std::string account, device;
    bool x25519 = false, pq = false;
  };
  void claim_together(ClaimRequest& request);
  // Leads one group: the queued requests and refills. claim_mutex_ held on entry and on return.
  void lead_group(std::unique_lock<std::mutex>& queue);
  void write_claims(const std::vector<ClaimRequest*>& group);
  void run_refiller();
  std::mutex claim_mutex_;  // never held while waiting for write_mutex_
  std::condition_variable claims_written_;
  std::vector<ClaimRequest*> claim_queue_;
  std::map<std::int64_t, Refill> refills_;  // by devices.id
  bool claim_leader_ = false;
  bool stopping_ = false;
  // Claim groups are written on one connection kept for them (under write_mutex_), so its page
  // cache keeps the prekey pages the claims touch.
  std::unique_ptr<sqlite::Connection> claim_writer_;

  void drop_reserve(std::int64_t device_row, bool one_time, bool pq_one_time);
  void return_reserves();
  OneTimePrekeyCounts reserved(std::int64_t device_row);
  // Under reserve_mutex_: add_to_reserve appends a claim to a queue, take_reserved hands out its
  // first key into `into` (false if the queue is empty), both keeping reserved_bytes_.
  void add_to_reserve(Queue& queue, Claim claimed);
  bool take_reserved(Queue& queue, std::optional<StoredPrekey>& into);
  const std::size_t max_reserved_bytes_;
  std::mutex reserve_mutex_;  // after write_mutex_ when both are held
  std::unordered_map<std::int64_t, Reserve> reserves_;  // by devices.id
  std::size_t reserved_bytes_ = 0;            // of all of reserves_
  // Devices and kinds whose claimed keys are committed or about to be and not yet in the
  // reserve: a bundle that found none of that kind in its snapshot nor in the reserve waits for
  // them (reserve_changed_) instead of going out without a one-time key while some remain.
  std::set<std::pair<std::int64_t, PrekeyKind>> in_flight_;
  void forget_in_flight(std::int64_t device_row);
  std::condition_variable reserve_changed_;

  // The current prekeys (signed and last-resort) of recently fetched devices, with the
  // prekeys_index they were read at, by account, NUL, device. Every upload stores a new, higher
  // prekeys_index (in this process or another), so a bundle whose snapshot reads the same index
  // takes these and skips the prekey rows: a cold page of the prekeys table per device fetched.
  // Emptied when it holds kMaxCachedCurrent devices (about 1.5 KB each).
  struct CachedCurrent {
    std::int64_t prekeys_index = 0;
    CurrentPrekeys current;
  };
  static constexpr std::size_t kMaxCachedCurrent = 4096;
  void remember_current(std::string key, std::int64_t prekeys_index, const CurrentPrekeys& current);
  std::mutex current_mutex_;
  std::unordered_map<std::string, std::shared_ptr<const CachedCurrent>> current_cache_;

  std::thread refiller_;  // last: started when everything above is ready
};

}  // namespace escrowless::keyservice
