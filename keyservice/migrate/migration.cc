#include "keyservice/migrate/migration.h"

#include <chrono>
#include <filesystem>
#include <vector>

#include "audit/error.h"
#include "audit/verifier_key.h"
#include "keyservice/error.h"
#include "keyservice/log/postgres_log_storage.h"
#include "keyservice/log/transparency_log.h"
#include "keyservice/log/tree_check.h"
#include "keyservice/migrate/config_switch.h"
#include "keyservice/migrate/sqlite_source.h"
#include "keyservice/migrate/table_copy.h"
#include "keyservice/store/postgres_device_schema.h"

namespace escrowless::keyservice::migrate {
namespace fs = std::filesystem;

namespace {

using postgresql::Connection;
using postgresql::Result;
using Clock = std::chrono::steady_clock;

constexpr const char* kSchemaLock = "1163084626, 2";  // the lock every schema change takes

using C = Column;
constexpr Column kText2[] = {C::text, C::text};
constexpr Column kLeaves[] = {C::int64, C::bytes, C::bytes};
constexpr Column kNodes[] = {C::int32, C::int64, C::bytes};
constexpr Column kCheckpoints[] = {C::int64, C::bytes, C::text, C::text};
constexpr Column kDevices[] = {C::int64, C::text,  C::text,  C::text,  C::bytes, C::bytes,
                               C::bytes, C::int64, C::int64, C::int64, C::int64, C::int64};
constexpr Column kCredentials[] = {C::bytes, C::int64};
constexpr Column kBatches[] = {C::int64, C::int64, C::int64, C::text, C::bytes};
constexpr Column kPrekeys[] = {C::int64, C::text, C::int64, C::bytes, C::bytes, C::int64, C::int64, C::int32};
constexpr Column kLists[] = {C::int64, C::text, C::int64, C::int64, C::int64, C::int64};

const TableCopy kLogCopies[] = {
    {"SELECT key, value FROM meta", "COPY meta (key, value) FROM STDIN (FORMAT binary)", kText2},
    {"SELECT idx, data, leaf_hash FROM leaves ORDER BY idx",
     "COPY leaves (idx, data, leaf_hash) FROM STDIN (FORMAT binary)", kLeaves},
    {"SELECT level, idx, hash FROM nodes", "COPY nodes (level, idx, hash) FROM STDIN (FORMAT binary)", kNodes},
    {"SELECT size, root, body, note FROM checkpoints ORDER BY size",
     "COPY checkpoints (size, root, body, note) FROM STDIN (FORMAT binary)", kCheckpoints},
};

// The device ids and batch ids are kept (COPY writes identity columns as given), so every
// reference stays as it was. A one-time list takes the id of the batch its entry logged. Of the
// one-time keys only those at or past their list's cursor come: the ones before it were handed
// out (or claimed ahead by the server that stopped) and must never be handed out again.
const TableCopy kDeviceCopies[] = {
    {"SELECT key, value FROM meta WHERE key NOT IN ('schema', 'schema_version')",
     "COPY devices_meta (key, value) FROM STDIN (FORMAT binary)", kText2},
    {"SELECT id, account, device, algorithm, token_key_id, public_key, public_key_sha256, enrolled_index, "
     "enrolled_time, revoked_index, revoked_time, prekeys_index FROM devices ORDER BY id",
     "COPY devices (id, account, device, algorithm, token_key_id, public_key, public_key_sha256, enrolled_index, "
     "enrolled_time, revoked_index, revoked_time, prekeys_index) FROM STDIN (FORMAT binary)",
     kDevices},
    {"SELECT sha256, device_id FROM credentials", "COPY credentials (sha256, device_id) FROM STDIN (FORMAT binary)",
     kCredentials},
    {"SELECT id, device_id, log_index, kind, leaf_hashes FROM prekey_batches ORDER BY id",
     "COPY prekey_batches (id, device_id, log_index, kind, leaf_hashes) FROM STDIN (FORMAT binary)", kBatches},
    {"SELECT p.device_id, p.kind, p.key_id, p.public_key, p.signature, p.log_index, p.batch_id, p.batch_index "
     "FROM prekeys p LEFT JOIN one_time_lists l ON l.device_id = p.device_id AND l.kind = p.kind "
     "WHERE p.batch_id IS NULL OR p.key_id >= coalesce(l.next_key_id, 0)",
     "COPY prekeys (device_id, kind, key_id, public_key, signature, log_index, batch_id, batch_index) "
     "FROM STDIN (FORMAT binary)",
     kPrekeys},
    {"SELECT l.device_id, l.kind, l.log_index, b.id, l.last_key_id, l.next_key_id FROM one_time_lists l "
     "JOIN prekey_batches b ON b.device_id = l.device_id AND b.kind = l.kind AND b.log_index = l.log_index",
     "COPY one_time_lists (device_id, kind, log_index, batch_id, last_key_id, next_key_id) "
     "FROM STDIN (FORMAT binary)",
     kLists},
};

// Every table the two schemas make, dropped again if the copy does not verify. The target held
// no table before (require_empty), so these are all ours.
constexpr const char* kMadeTables =
    "one_time_lists, prekeys, prekey_batches, credentials, devices, devices_meta, log_queue, log_writer, "
    "checkpoints, nodes, leaves, meta, schema_version";

// Counts that the source and the target must agree on, by the same definitions on both sides.
constexpr const char* kDeviceCounts[][2] = {
    {"devices", "SELECT count(*) FROM devices"},
    {"revoked devices", "SELECT count(*) FROM devices WHERE revoked_index IS NOT NULL"},
    {"credentials", "SELECT count(*) FROM credentials"},
    {"unclaimed one-time prekeys",
     "SELECT count(*) FROM prekeys p JOIN one_time_lists l ON l.device_id = p.device_id AND l.kind = p.kind "
     "WHERE p.key_id >= l.next_key_id"},
    {"current prekeys", "SELECT count(*) FROM prekeys WHERE batch_id IS NULL"},
    {"one-time lists", "SELECT count(*) FROM one_time_lists"},
};

std::uint64_t sqlite_count(sqlite::Database* db, const std::string& sql) {
  if (!db) return 0;
  auto statement = db->prepare(sql);
  statement.step();
  return static_cast<std::uint64_t>(statement.column_int(0));
}

std::uint64_t pg_count(Connection& db, const std::string& sql) {
  return static_cast<std::uint64_t>(db.query(sql).int64(0, 0));
}

void require_same(const std::string& what, std::uint64_t source, std::uint64_t target) {
  if (source != target) {
    throw Error(ErrorKind::integrity, "the copy does not match: SQLite holds " + std::to_string(source) + " " + what +
                                          ", PostgreSQL " + std::to_string(target));
  }
}

// Refuses a target that holds any table where ours would go: migrate never merges into data.
void require_empty(Connection& db) {
  const Result tables = db.query(
      "SELECT count(*), string_agg(c.relname::text, ', ' ORDER BY c.relname) FROM pg_class c "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')");
  if (tables.int64(0, 0) != 0) {
    std::string names = tables.text(0, 1);
    if (names.size() > 200) names = names.substr(0, 200) + "...";
    throw Error(ErrorKind::conflict, "the target PostgreSQL database is not empty (it holds " +
                                         std::to_string(tables.int64(0, 0)) + " table(s): " + names +
                                         "): migrate only into a new, empty database; nothing was changed");
  }
}

void copy_all(SqliteSource& source, Connection& db, MigrationReport& report) {
  std::uint64_t copied[std::size(kLogCopies)];
  for (std::size_t i = 0; i < std::size(kLogCopies); ++i) copied[i] = copy_rows(source.log(), db, kLogCopies[i]);
  report.entries = copied[1];
  report.subtrees = copied[2];
  report.checkpoints = copied[3];
  if (sqlite::Database* devices = source.devices()) {
    for (const TableCopy& table : kDeviceCopies) {
      const std::uint64_t rows = copy_rows(*devices, db, table);
      if (table.copy.starts_with("COPY prekeys ")) report.prekeys = rows;
      if (table.copy.starts_with("COPY one_time_lists ")) {
        require_same("one-time lists (a list without its logged batch?)",
                     sqlite_count(devices, "SELECT count(*) FROM one_time_lists"), rows);
      }
    }
  }
  // New rows made by the service continue after the copied ids.
  for (const char* table : {"devices", "prekey_batches"}) {
    db.query(std::string("SELECT setval(pg_get_serial_sequence('") + table + "', 'id'), coalesce(max(id), 0) + 1, false) FROM " +
             table);
  }
  for (const char* table : {"leaves", "nodes", "checkpoints", "meta"}) {
    require_same(std::string(table) + " rows", sqlite_count(&source.log(), std::string("SELECT count(*) FROM ") + table),
                 pg_count(db, std::string("SELECT count(*) FROM ") + table));
  }
  for (const auto& [what, sql] : kDeviceCounts) require_same(what, sqlite_count(source.devices(), sql), pg_count(db, sql));
}

void copy_in_one_transaction(SqliteSource& source, const std::string& url, MigrationReport& report) {
  Connection db = Connection::open(url);
  db.exec("SET client_min_messages = warning");  // not "schema_version already exists, skipping"
  postgresql::Transaction transaction(db);
  // Another migrate or init on the same database waits here, then finds it not empty.
  db.query(std::string("SELECT pg_advisory_xact_lock(") + kSchemaLock + ")");
  require_empty(db);
  PostgresLogStorage::migrate_schema_within(db, true);
  migrate_device_schema_within(db, true);
  copy_all(source, db, report);
  transaction.commit();
}

std::string sqlite_meta(sqlite::Database& db, std::string_view key) {
  auto statement = db.prepare("SELECT value FROM meta WHERE key = ?");
  statement.bind(1, key);
  return statement.step() ? statement.column_text(0) : std::string();
}

// Step 3 of the header, on committed data, through the readers keyserviced itself uses.
void verify(SqliteSource& source, const std::string& url, MigrationReport& report) {
  auto leaves = PostgresLogStorage::open(url, false);
  auto nodes = PostgresLogStorage::open(url, false);
  const std::string origin = leaves->meta(kMetaOrigin).value_or("");
  const std::string verifier_key = leaves->meta(kMetaVerifierKey).value_or("");
  if (origin.empty() || origin != sqlite_meta(source.log(), kMetaOrigin) ||
      verifier_key != sqlite_meta(source.log(), kMetaVerifierKey) ||
      leaves->meta(kMetaLogKeyId).value_or("") != sqlite_meta(source.log(), kMetaLogKeyId)) {
    throw Error(ErrorKind::integrity, "the copied log's origin, log key or verifier key differs from SQLite's");
  }
  audit::VerifierKey verifier = [&] {
    try {
      return audit::parse_verifier_key(verifier_key);
    } catch (const audit::Error& e) {
      throw Error(ErrorKind::integrity, std::string("the log's verifier key does not parse: ") + e.what());
    }
  }();
  check_stored_tree(*leaves, *nodes, origin, verifier, true);
  require_same("leaves", report.entries, leaves->leaf_count());

  auto newest = source.log().prepare("SELECT size, note FROM checkpoints WHERE note IS NOT NULL ORDER BY size DESC LIMIT 1");
  const auto copied = leaves->latest_signed_checkpoint();
  if (newest.step()) {
    if (!copied || copied->size != static_cast<std::uint64_t>(newest.column_int(0)) ||
        copied->note != newest.column_text(1)) {
      throw Error(ErrorKind::integrity, "the newest signed checkpoint in PostgreSQL is not the one SQLite held");
    }
    report.checkpoint_size = copied->size;
    report.checkpoint = copied->note;
  }

  Connection db = Connection::open(url);
  for (const auto& [what, sql] : kDeviceCounts) require_same(what, sqlite_count(source.devices(), sql), pg_count(db, sql));
  report.devices = pg_count(db, kDeviceCounts[0][1]);
  report.revoked_devices = pg_count(db, kDeviceCounts[1][1]);
  report.credentials = pg_count(db, kDeviceCounts[2][1]);
  report.unclaimed_one_time_prekeys = pg_count(db, kDeviceCounts[3][1]);
  report.claimed_one_time_prekeys_left_behind =
      sqlite_count(source.devices(), "SELECT count(*) FROM prekeys WHERE batch_id IS NOT NULL") -
      report.unclaimed_one_time_prekeys;
}

// After a failed check: the committed copy goes again, so the database is as empty as it was.
std::string drop_copy(const std::string& url) {
  try {
    Connection db = Connection::open(url);
    postgresql::Transaction transaction(db);
    db.exec(std::string("DROP TABLE IF EXISTS ") + kMadeTables);
    transaction.commit();
    return "the copied tables were dropped again; the database is empty";
  } catch (const std::exception& e) {
    return std::string("dropping the copied tables failed too (") + e.what() +
           "): drop them by hand (DROP TABLE " + kMadeTables + ") before trying again";
  }
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

MigrationReport migrate_to_postgresql(const MigrationOptions& options) {
  if (options.data_dir.empty()) throw Error(ErrorKind::invalid_input, "no data folder given");
  postgresql::check_conninfo(options.postgresql_url);
  const fs::path dir = fs::absolute(options.data_dir);
  const std::optional<ConfigSwitch> config = plan_config_switch(dir);
  SqliteSource source = SqliteSource::open(dir.string());

  MigrationReport report;
  report.config_lines = config_lines(options.postgresql_url);
  const auto copy_start = Clock::now();
  copy_in_one_transaction(source, options.postgresql_url, report);
  report.copy_seconds = seconds_since(copy_start);

  const auto verify_start = Clock::now();
  try {
    verify(source, options.postgresql_url, report);
  } catch (const std::exception& e) {
    const std::string undone = drop_copy(options.postgresql_url);
    throw Error(ErrorKind::integrity, std::string("the copy in PostgreSQL does not verify: ") + e.what() + "; " + undone +
                                          "; the SQLite deployment is unchanged");
  }
  report.verify_seconds = seconds_since(verify_start);

  if (config) {
    try {
      switch_config(*config, options.postgresql_url);
    } catch (const Error& e) {
      throw Error(e.kind(), std::string("the log and devices are in PostgreSQL and verified, but ") + e.what() +
                                ": set these lines in " + config->config.string() + " by hand:\n" + report.config_lines);
    }
    report.config = config->config.string();
    report.config_backup = config->backup.string();
  }
  return report;
}

}  // namespace escrowless::keyservice::migrate
