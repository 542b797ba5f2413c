// Where a log lives, and the three ways to open its storage, whichever backend holds it: SQLite
// (one file, the embedded default) or PostgreSQL (a database several nodes share).
#pragma once

#include <memory>
#include <string>

#include "keyservice/log/log_storage.h"

namespace escrowless::keyservice {

struct LogDatabase {
  enum class Kind { sqlite, postgresql };
  Kind kind = Kind::sqlite;
  // The SQLite file, or libpq's connection string (keywords or a postgresql:// URL). The password
  // is never in it: libpq reads it from PGPASSFILE / `passfile` (mode 0600) or PGPASSWORD, and
  // a conninfo with a password is refused. TLS: sslmode (and sslrootcert) in the conninfo.
  std::string target;

  static LogDatabase sqlite(std::string path) { return {Kind::sqlite, std::move(path)}; }
  static LogDatabase postgresql(std::string conninfo) { return {Kind::postgresql, std::move(conninfo)}; }
  // For messages: the file name, or "the PostgreSQL log" (a conninfo may name key files).
  std::string name() const;
};

// Makes the storage of a new log. Error(conflict) when a log is there already.
std::unique_ptr<LogStorage> create_log_storage(const LogDatabase& database);
// Opens an existing log for reading. Error(not_found) when there is none.
std::unique_ptr<LogStorage> open_log_storage(const LogDatabase& database);
// Opens the log's one writer, holding what keeps every other writer out for as long as it lives:
// an flock on "<file>.lock" for SQLite; for PostgreSQL an advisory lock and a new writer epoch
// that every write of this storage checks in its transaction (see PostgresLogStorage).
// Error(conflict) while another writer holds it.
std::unique_ptr<LogStorage> open_log_writer(const LogDatabase& database);

}  // namespace escrowless::keyservice
