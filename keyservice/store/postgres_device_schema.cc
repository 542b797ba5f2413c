#include "keyservice/store/postgres_device_schema.h"

#include <iterator>
#include <string>

#include "keyservice/error.h"

namespace escrowless::keyservice {
namespace {

using postgresql::Params;
using postgresql::Result;

constexpr const char* kMigrationLock = "1163084626, 2";  // 'ESCR', schema changes (as the log's)

// kMigrations[v] takes the devices schema from version v to v + 1. Never edit one that has
// shipped: add the next. The CHECKs repeat what the code checks before writing.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE devices_meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE devices (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account           text NOT NULL,
  device            text NOT NULL,
  algorithm         text NOT NULL CHECK (algorithm IN ('ed25519', 'ecdsa-p256')),
  token_key_id      bytea NOT NULL CHECK (length(token_key_id) BETWEEN 1 AND 64),
  public_key        bytea NOT NULL,
  public_key_sha256 bytea NOT NULL CHECK (length(public_key_sha256) = 32),
  enrolled_index    bigint NOT NULL UNIQUE CHECK (enrolled_index >= 0),
  enrolled_time     bigint NOT NULL,
  revoked_index     bigint CHECK (revoked_index > enrolled_index),
  revoked_time      bigint,
  prekeys_index     bigint CHECK (prekeys_index > enrolled_index),
  UNIQUE (account, device),
  CHECK ((revoked_index IS NULL) = (revoked_time IS NULL))
);
CREATE TABLE credentials (
  sha256    bytea PRIMARY KEY CHECK (length(sha256) = 32),
  device_id bigint NOT NULL UNIQUE REFERENCES devices (id)
);
CREATE TABLE prekey_batches (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  device_id   bigint NOT NULL REFERENCES devices (id),
  log_index   bigint NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('one_time_prekey', 'pq_one_time_prekey')),
  leaf_hashes bytea NOT NULL
              CHECK (length(leaf_hashes) BETWEEN 32 AND 3200 AND length(leaf_hashes) % 32 = 0),
  UNIQUE (device_id, log_index, kind)
);
CREATE TABLE prekeys (
  device_id   bigint NOT NULL REFERENCES devices (id),
  kind        text NOT NULL CHECK (kind IN ('signed_prekey', 'pq_last_resort_prekey',
                                             'one_time_prekey', 'pq_one_time_prekey')),
  key_id      bigint NOT NULL CHECK (key_id BETWEEN 0 AND 4294967295),
  public_key  bytea NOT NULL CHECK (length(public_key) =
                CASE WHEN kind IN ('signed_prekey', 'one_time_prekey') THEN 32 ELSE 1184 END),
  signature   bytea NOT NULL CHECK (length(signature) = 64),
  log_index   bigint NOT NULL,
  batch_id    bigint REFERENCES prekey_batches (id),
  batch_index integer CHECK (batch_index BETWEEN 0 AND 99),
  PRIMARY KEY (device_id, kind, key_id),
  CHECK ((batch_id IS NULL) = (kind IN ('signed_prekey', 'pq_last_resort_prekey'))),
  CHECK ((batch_id IS NULL) = (batch_index IS NULL))
);
CREATE UNIQUE INDEX prekeys_current ON prekeys (device_id, kind)
  WHERE kind IN ('signed_prekey', 'pq_last_resort_prekey');
CREATE INDEX prekeys_batch ON prekeys (batch_id);
CREATE TABLE one_time_lists (
  device_id   bigint NOT NULL REFERENCES devices (id),
  kind        text NOT NULL CHECK (kind IN ('one_time_prekey', 'pq_one_time_prekey')),
  log_index   bigint NOT NULL,
  batch_id    bigint NOT NULL REFERENCES prekey_batches (id),
  last_key_id bigint NOT NULL CHECK (last_key_id BETWEEN 0 AND 4294967295),
  next_key_id bigint NOT NULL CHECK (next_key_id BETWEEN 0 AND last_key_id + 1),
  PRIMARY KEY (device_id, kind)
);
)sql",
};
static_assert(std::size(kMigrations) == static_cast<std::size_t>(kPostgresDeviceSchemaVersion));

}  // namespace

// Under the transaction-scoped advisory lock the log's migrations take, so two processes opening
// a new database at once don't both create it.
void migrate_device_schema_within(postgresql::Connection& db, bool create) {
  db.query(std::string("SELECT pg_advisory_xact_lock(") + kMigrationLock + ")");
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (component text PRIMARY KEY, version integer NOT NULL)");
  const Result row = db.query("SELECT version FROM schema_version WHERE component = 'devices'");
  const int version = row.rows() == 1 ? row.int32(0, 0) : 0;
  if (version == 0 && !create) throw Error(ErrorKind::not_found, "no device store in this PostgreSQL database");
  if (version > kPostgresDeviceSchemaVersion) {
    throw Error(ErrorKind::conflict, "the device store's PostgreSQL schema is version " + std::to_string(version) +
                                         ", newer than this build's " +
                                         std::to_string(kPostgresDeviceSchemaVersion) + ": run a newer escrowless");
  }
  if (version == kPostgresDeviceSchemaVersion) return;
  for (int next = version; next < kPostgresDeviceSchemaVersion; ++next) db.exec(kMigrations[next]);
  db.query("INSERT INTO schema_version (component, version) VALUES ('devices', $1) "
           "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version",
           Params().add(kPostgresDeviceSchemaVersion));
}

void migrate_device_schema(postgresql::Connection& db, bool create) {
  postgresql::Transaction transaction(db);
  migrate_device_schema_within(db, create);
  transaction.commit();
}

}  // namespace escrowless::keyservice
