// The SQLite side of `keyadmin migrate`: a stopped deployment's log.db and devices.db, opened
// read-only under the log writer's lock (so no keyserviced runs on them while it lives, and
// nothing in either file changes), after checking that both hold exactly the schema this build
// knows.
#pragma once

#include <optional>
#include <string>

#include "keyservice/log/sqlite_log_storage.h"
#include "keyservice/store/sqlite.h"

namespace escrowless::keyservice::migrate {

class SqliteSource {
 public:
  // Refuses with Error(conflict) while a process writes the log (keyserviced is running), and
  // with Error(integrity) naming the file and the difference when a schema is not one this
  // build knows (another version, or tables or columns it does not have). A data folder without
  // devices.db (a log no keyserviced has served yet) has no devices.
  static SqliteSource open(const std::string& data_dir);

  sqlite::Database& log() { return log_; }
  // Absent when the folder has no devices.db.
  sqlite::Database* devices() { return devices_ ? &*devices_ : nullptr; }
  const std::string& log_path() const { return log_path_; }

 private:
  SqliteSource(SqliteLogWriterLock lock, std::string log_path, sqlite::Database log,
               std::optional<sqlite::Database> devices)
      : lock_(std::move(lock)), log_path_(std::move(log_path)), log_(std::move(log)), devices_(std::move(devices)) {}

  SqliteLogWriterLock lock_;  // declared first: released after both databases are closed
  std::string log_path_;
  sqlite::Database log_;
  std::optional<sqlite::Database> devices_;
};

}  // namespace escrowless::keyservice::migrate
