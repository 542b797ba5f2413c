// DeviceStore in PostgreSQL, for several keyserviced nodes sharing one database: ClaimingDeviceStore
// (the reserve, group commit, refiller and cache every backend shares) over the PostgreSQL
// backend in postgres_device_store.cc, on libpq directly (store/postgresql.h), like the log's
// PostgresLogStorage, in the same database or another.
//
// Tables (schema_version row `devices`, migrated forward on open under the advisory lock the log
// uses for its own migrations, a newer version refused): the SQLite store's devices,
// credentials, prekey_batches, prekeys and one_time_lists, with bigint/bytea/text columns and the
// same CHECKs; one_time_lists also names its batch; `devices_meta` holds reconciled_log_size.
//
// Transactions are READ COMMITTED. Writers lock what they change: an upload or a revocation takes
// the device's row FOR UPDATE; a claim takes the device's row FOR SHARE (so a revocation waits
// for claims in flight and claims after it see it) and the list's row FOR UPDATE, then reads the
// cursor and the keys after it in new statements (each sees what the lock's previous holder
// committed) and moves the cursor past them in the same statement as it reads them. So a
// one-time key goes out at most once across connections, processes and nodes. A group of claims
// locks devices in (account, device) order, so two nodes' groups don't deadlock.
//
// Reads that serve a bundle are one statement: the device, its prekeys_index, its lists' states,
// the current prekeys when asked for, and the reader's credential hash (compared again with
// CRYPTO_memcmp). Every cache of ClaimingDeviceStore is checked against that statement's values,
// so a revocation or an upload committed through any node is seen by every node's next bundle,
// and no node keeps accepting a revoked credential (credential lookups are never cached).
//
// Connections: a pool (postgres_pool.h); a connection found broken is dropped and the next call
// opens another, so the store recovers on its own when the server comes back (Error(unavailable)
// meanwhile).
#pragma once

#include <memory>
#include <string>

#include "keyservice/store/claiming_device_store.h"
#include "keyservice/store/postgres_device_schema.h"

namespace escrowless::keyservice {

class PostgresDeviceStore final : public ClaimingDeviceStore {
 public:
  static constexpr int kSchemaVersion = kPostgresDeviceSchemaVersion;

  // Opens the device tables in the database of `conninfo` (postgresql::check_conninfo: no
  // password in it). With create, missing tables are made; without, Error(not_found) if there
  // are none. Error(conflict) if the schema is newer than this build; Error(unavailable) if the
  // server can't be reached.
  static std::unique_ptr<PostgresDeviceStore> open(const std::string& conninfo, bool create);
  static std::unique_ptr<PostgresDeviceStore> open(const std::string& conninfo, bool create,
                                                   std::size_t max_reserved_bytes);

 private:
  using ClaimingDeviceStore::ClaimingDeviceStore;
};

}  // namespace escrowless::keyservice
