// DeviceStore in one SQLite file, devices.db (WAL, synchronous=FULL), beside the log's log.db:
// ClaimingDeviceStore (the reserve, group commit, refiller and cache every backend shares) over
// the SQLite backend in sqlite_device_store.cc. Schema version 2 (sqlite_device_schema.h),
// recorded in `meta` and checked on open (a version 1 file is upgraded in place):
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
// last-resort prekey per device (a partial unique index). A one-time list's rows (and its batch)
// stay until the list is replaced or the device revoked.
//
// Each call borrows its own connection (sqlite_pool.h) and runs in one transaction: BEGIN
// IMMEDIATE for writes, one statement or a read snapshot for reads. A claim moves its list's
// cursor inside BEGIN IMMEDIATE, so SQLite's write lock makes each key go out once across
// threads, store objects and processes. Writers of one process queue on a mutex instead of in
// SQLite's busy handler, which polls with sleeps of up to 100 ms (other processes still meet the
// busy timeout); claim groups are written on one connection kept for them, so its page cache
// keeps the pages claims touch.
//
// Credential lookup is an index lookup on SHA-256 of a 256-bit random secret. Its timing can at
// most reveal how many leading bytes of the presented hash match a stored hash; an attacker
// can't choose those bytes (a hash with a chosen k-byte prefix costs about 2^(8k) tries), and
// knowing a prefix of a stored hash brings no one closer to the secret behind it. The stored
// hash is still compared in full with CRYPTO_memcmp before a device is returned.
#pragma once

#include <memory>
#include <string>

#include "keyservice/store/claiming_device_store.h"

namespace escrowless::keyservice {

class SqliteDeviceStore final : public ClaimingDeviceStore {
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

 private:
  using ClaimingDeviceStore::ClaimingDeviceStore;
};

}  // namespace escrowless::keyservice
