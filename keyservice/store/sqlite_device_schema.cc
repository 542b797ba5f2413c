#include "keyservice/store/sqlite_device_schema.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <string_view>

#include "keyservice/error.h"

namespace escrowless::keyservice {
namespace {

constexpr std::string_view kSchemaName = "escrowless.devices";

// The CHECKs repeat what the code checks before writing, so that a bug or a hand edit can't
// store a row the readers would have to refuse. Version 1:
constexpr const char* kVersion1 = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE devices (
  id                INTEGER PRIMARY KEY,
  account           TEXT NOT NULL,
  device            TEXT NOT NULL,
  algorithm         TEXT NOT NULL CHECK (algorithm IN ('ed25519', 'ecdsa-p256')),
  token_key_id      BLOB NOT NULL CHECK (length(token_key_id) BETWEEN 1 AND 64),
  public_key        BLOB NOT NULL,
  public_key_sha256 BLOB NOT NULL CHECK (length(public_key_sha256) = 32),
  enrolled_index    INTEGER NOT NULL UNIQUE CHECK (enrolled_index >= 0),
  enrolled_time     INTEGER NOT NULL,
  revoked_index     INTEGER CHECK (revoked_index > enrolled_index),
  revoked_time      INTEGER,
  prekeys_index     INTEGER CHECK (prekeys_index > enrolled_index),
  UNIQUE (account, device),
  CHECK ((revoked_index IS NULL) = (revoked_time IS NULL))
);

CREATE TABLE credentials (
  sha256    BLOB PRIMARY KEY CHECK (length(sha256) = 32),
  device_id INTEGER NOT NULL UNIQUE REFERENCES devices (id)
) WITHOUT ROWID;

CREATE TABLE prekey_batches (
  id          INTEGER PRIMARY KEY,
  device_id   INTEGER NOT NULL REFERENCES devices (id),
  log_index   INTEGER NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('one_time_prekey', 'pq_one_time_prekey')),
  leaf_hashes BLOB NOT NULL
              CHECK (length(leaf_hashes) BETWEEN 32 AND 3200 AND length(leaf_hashes) % 32 = 0),
  UNIQUE (device_id, log_index, kind)
);

CREATE TABLE prekeys (
  device_id   INTEGER NOT NULL REFERENCES devices (id),
  kind        TEXT NOT NULL CHECK (kind IN ('signed_prekey', 'pq_last_resort_prekey',
                                             'one_time_prekey', 'pq_one_time_prekey')),
  key_id      INTEGER NOT NULL CHECK (key_id BETWEEN 0 AND 4294967295),
  public_key  BLOB NOT NULL CHECK (length(public_key) =
                CASE WHEN kind IN ('signed_prekey', 'one_time_prekey') THEN 32 ELSE 1184 END),
  signature   BLOB NOT NULL CHECK (length(signature) = 64),
  log_index   INTEGER NOT NULL,
  batch_id    INTEGER REFERENCES prekey_batches (id),
  batch_index INTEGER CHECK (batch_index BETWEEN 0 AND 99),
  PRIMARY KEY (device_id, kind, key_id),
  CHECK ((batch_id IS NULL) = (kind IN ('signed_prekey', 'pq_last_resort_prekey'))),
  CHECK ((batch_id IS NULL) = (batch_index IS NULL))
);

-- One current signed prekey and one last-resort prekey per device.
CREATE UNIQUE INDEX prekeys_current ON prekeys (device_id, kind)
  WHERE kind IN ('signed_prekey', 'pq_last_resort_prekey');

-- For the foreign key check when a batch row is deleted.
CREATE INDEX prekeys_batch ON prekeys (batch_id);
)sql";

// Version 2 adds one row per stored one-time list (device and kind): the entry that logged it,
// its highest key id, and its claim cursor. Keys with ids below next_key_id are claimed (handed
// out, or claimed ahead into a running server's memory); their rows stay until the list is
// replaced or the device revoked. A claim writes only this small row, and whether any key is left
// (next_key_id <= last_key_id) is read here, from a table small enough to stay in every page cache.
constexpr const char* kAddedInVersion2 = R"sql(
CREATE TABLE one_time_lists (
  device_id   INTEGER NOT NULL REFERENCES devices (id),
  kind        TEXT NOT NULL CHECK (kind IN ('one_time_prekey', 'pq_one_time_prekey')),
  log_index   INTEGER NOT NULL,
  last_key_id INTEGER NOT NULL CHECK (last_key_id BETWEEN 0 AND 4294967295),
  next_key_id INTEGER NOT NULL CHECK (next_key_id BETWEEN 0 AND last_key_id + 1),
  PRIMARY KEY (device_id, kind)
) WITHOUT ROWID;
)sql";

// Version 1 kept only unclaimed one-time keys (a claim deleted them, lowest key ids first).
constexpr const char* kListsFromVersion1 = R"sql(
INSERT INTO one_time_lists (device_id, kind, log_index, last_key_id, next_key_id)
  SELECT device_id, kind, max(log_index), max(key_id), min(key_id) FROM prekeys
  WHERE kind IN ('one_time_prekey', 'pq_one_time_prekey') GROUP BY device_id, kind;
)sql";

std::optional<std::string> meta(sqlite::Database& db, std::string_view key) {
  auto statement = db.prepare("SELECT value FROM meta WHERE key = ?");
  statement.bind(1, key);
  if (!statement.step()) return std::nullopt;
  return statement.column_text(0);
}

std::int64_t count(sqlite::Database& db, std::string_view sql) {
  auto statement = db.prepare(sql);
  statement.step();
  return statement.column_int(0);
}

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw Error(ErrorKind::integrity, path + " is not a devices database of this version: " + why);
}

}  // namespace

void prepare_device_schema(sqlite::Database& db, const std::string& path, bool create) {
  if (count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'") == 0) {
    if (!create) refuse(path, "it has no schema");
    if (count(db, "SELECT count(*) FROM sqlite_master") != 0) refuse(path, "it holds other tables");
    db.exec(kVersion1);
    db.exec(kAddedInVersion2);
    auto insert = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
    insert.bind(1, std::string_view("schema")).bind(2, kSchemaName).run();
    insert.bind(1, std::string_view("schema_version"))
        .bind(2, std::to_string(kDeviceSchemaVersion))
        .run();
    return;
  }
  const auto name = meta(db, "schema");
  if (name != kSchemaName) refuse(path, "its meta table names no devices schema");
  auto version = meta(db, "schema_version");
  if (version == "1") {
    db.exec(kAddedInVersion2);
    db.exec(kListsFromVersion1);
    db.exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
    spdlog::info("{}: devices schema upgraded from version 1 to 2 (one-time prekey lists with claim cursors)", path);
    version = "2";
  }
  if (version != std::to_string(kDeviceSchemaVersion)) {
    refuse(path, "its schema version is " + version.value_or("missing") + ", this build reads " +
                     std::to_string(kDeviceSchemaVersion));
  }
}

}  // namespace escrowless::keyservice
