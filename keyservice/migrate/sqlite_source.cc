#include "keyservice/migrate/sqlite_source.h"

#include <filesystem>
#include <map>
#include <vector>

#include "keyservice/error.h"
#include "keyservice/log/log_init.h"
#include "keyservice/store/sqlite_device_schema.h"

namespace escrowless::keyservice::migrate {
namespace fs = std::filesystem;

namespace {

using Tables = std::map<std::string, std::vector<std::string>>;  // table -> its columns, in order

// The tables of SqliteLogStorage (no version number: these four have never changed).
const Tables kLogTables = {
    {"meta", {"key", "value"}},
    {"leaves", {"idx", "data", "leaf_hash"}},
    {"nodes", {"level", "idx", "hash"}},
    {"checkpoints", {"size", "root", "body", "note"}},
};

// The devices schema of version kDeviceSchemaVersion (sqlite_device_schema.cc).
const Tables kDeviceTables = {
    {"meta", {"key", "value"}},
    {"devices",
     {"id", "account", "device", "algorithm", "token_key_id", "public_key", "public_key_sha256", "enrolled_index",
      "enrolled_time", "revoked_index", "revoked_time", "prekeys_index"}},
    {"credentials", {"sha256", "device_id"}},
    {"prekey_batches", {"id", "device_id", "log_index", "kind", "leaf_hashes"}},
    {"prekeys", {"device_id", "kind", "key_id", "public_key", "signature", "log_index", "batch_id", "batch_index"}},
    {"one_time_lists", {"device_id", "kind", "log_index", "last_key_id", "next_key_id"}},
};

[[noreturn]] void unknown(const std::string& path, const std::string& why) {
  throw Error(ErrorKind::integrity, path + " does not hold a schema this build can migrate: " + why);
}

Tables tables_of(sqlite::Database& db) {
  Tables tables;
  auto names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'");
  while (names.step()) tables[names.column_text(0)];
  for (auto& [table, columns] : tables) {
    auto info = db.prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid");
    info.bind(1, table);
    while (info.step()) columns.push_back(info.column_text(0));
  }
  return tables;
}

void require_tables(sqlite::Database& db, const std::string& path, const Tables& expected) {
  const Tables found = tables_of(db);
  for (const auto& [table, columns] : found) {
    const auto known = expected.find(table);
    if (known == expected.end()) unknown(path, "it has a table '" + table + "'");
    if (known->second != columns) unknown(path, "table '" + table + "' has other columns");
  }
  for (const auto& [table, columns] : expected) {
    if (!found.contains(table)) unknown(path, "it has no table '" + table + "'");
  }
}

std::string meta_value(sqlite::Database& db, std::string_view key) {
  auto statement = db.prepare("SELECT value FROM meta WHERE key = ?");
  statement.bind(1, key);
  return statement.step() ? statement.column_text(0) : std::string();
}

// Before the tables: a file of another version is named as such, not by the columns that differ.
void require_device_version(sqlite::Database& db, const std::string& path) {
  if (!tables_of(db).contains("meta")) unknown(path, "it has no meta table");
  if (meta_value(db, "schema") != "escrowless.devices") unknown(path, "its meta table names no devices schema");
  const std::string version = meta_value(db, "schema_version");
  if (version == "1") {
    unknown(path, "it is devices schema version 1; start keyserviced of this build on it once (it upgrades the "
                  "file to version " + std::to_string(kDeviceSchemaVersion) + "), stop it, then migrate");
  }
  if (version != std::to_string(kDeviceSchemaVersion)) {
    unknown(path, "its devices schema version is " + (version.empty() ? std::string("missing") : version) +
                      ", this build reads " + std::to_string(kDeviceSchemaVersion));
  }
}

}  // namespace

SqliteSource SqliteSource::open(const std::string& data_dir) {
  const fs::path dir = fs::absolute(data_dir);
  const std::string log_path = (dir / kLogDatabaseName).string();
  if (!fs::exists(log_path)) throw Error(ErrorKind::not_found, "no SQLite log in " + dir.string() + " (no log.db)");
  SqliteLogWriterLock lock;
  try {
    lock = SqliteLogWriterLock::acquire(log_path);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::conflict) throw;
    throw Error(ErrorKind::conflict, "keyserviced (or another writer) is running on " + dir.string() +
                                         ": it holds the log's writer lock " + log_path +
                                         ".lock; stop it first, then migrate");
  }
  sqlite::Database log = sqlite::Database::open_read_only(log_path);
  require_tables(log, log_path, kLogTables);

  std::optional<sqlite::Database> devices;
  const std::string devices_path = (dir / "devices.db").string();
  if (fs::exists(devices_path)) {
    devices.emplace(sqlite::Database::open_read_only(devices_path));
    require_device_version(*devices, devices_path);
    require_tables(*devices, devices_path, kDeviceTables);
  }
  return SqliteSource(std::move(lock), log_path, std::move(log), std::move(devices));
}

}  // namespace escrowless::keyservice::migrate
