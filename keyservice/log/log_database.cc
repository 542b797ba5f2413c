#include "keyservice/log/log_database.h"

#include <chrono>
#include <filesystem>

#include "keyservice/error.h"
#include "keyservice/log/postgres_log_storage.h"
#include "keyservice/log/sqlite_log_storage.h"
#include "keyservice/log/transparency_log.h"

namespace escrowless::keyservice {
namespace {

// How long a new PostgreSQL writer waits for the lock: a writer that was just killed holds it
// until PostgreSQL notices its connection closed (at once on one machine; across a network,
// TCP keepalives in the conninfo bound it).
constexpr std::chrono::seconds kWriterLockWait{3};

}  // namespace

std::string LogDatabase::name() const {
  return kind == Kind::sqlite ? target : std::string("the PostgreSQL log");
}

std::unique_ptr<LogStorage> create_log_storage(const LogDatabase& database) {
  if (database.kind == LogDatabase::Kind::sqlite) {
    if (std::filesystem::exists(database.target)) {
      throw Error(ErrorKind::conflict, database.target + " already exists: not overwriting a log");
    }
    return SqliteLogStorage::open(database.target, true);
  }
  auto storage = PostgresLogStorage::open(database.target, true);
  if (storage->meta(kMetaOrigin)) {
    throw Error(ErrorKind::conflict, "the PostgreSQL database already exists as a log: not overwriting it");
  }
  return storage;
}

std::unique_ptr<LogStorage> open_log_storage(const LogDatabase& database) {
  if (database.kind == LogDatabase::Kind::sqlite) return SqliteLogStorage::open(database.target, false);
  return PostgresLogStorage::open(database.target, false);
}

std::unique_ptr<LogStorage> open_log_writer(const LogDatabase& database) {
  if (database.kind == LogDatabase::Kind::sqlite) return SqliteLogStorage::open_writer(database.target);
  return PostgresLogStorage::open_writer(database.target, kWriterLockWait);
}

}  // namespace escrowless::keyservice
