#include "witness/witness_state.h"

#include <sqlite3.h>

#include <algorithm>

#include "keyservice/error.h"

namespace escrowless::witness {
namespace {

using keyservice::Error;
using keyservice::ErrorKind;
using keyservice::sqlite::Database;
using keyservice::sqlite::Statement;

constexpr int kSchemaVersion = 1;

// Sizes are uint64 in checkpoints; SQLite integers are int64. Stored as the same 64 bits.
std::int64_t to_column(uint64_t value) { return static_cast<std::int64_t>(value); }
uint64_t from_column(std::int64_t value) { return static_cast<uint64_t>(value); }

}  // namespace

std::unique_ptr<WitnessState> WitnessState::open(const std::string& path, bool create) {
  Database db = Database::open(path, create);
  const int version = [&db] {
    Statement statement = db.prepare("PRAGMA user_version");
    statement.step();
    return static_cast<int>(statement.column_int(0));
  }();
  if (version == 0) {
    if (!create) throw Error(ErrorKind::integrity, path + " is not a keywitness state file (run keywitness init)");
    db.exec(
        "BEGIN IMMEDIATE;"
        "CREATE TABLE witnessed(origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL,"
        " checkpoint TEXT NOT NULL, timestamp INTEGER NOT NULL);"
        "CREATE TABLE refused(id INTEGER PRIMARY KEY, origin TEXT NOT NULL, time INTEGER NOT NULL,"
        " status INTEGER NOT NULL, request TEXT NOT NULL);"
        "CREATE INDEX refused_origin ON refused(origin, id);"
        "PRAGMA user_version = 1;"
        "COMMIT;");
  } else if (version != kSchemaVersion) {
    throw Error(ErrorKind::integrity, path + " has state schema version " + std::to_string(version) +
                                          ", this keywitness reads version " + std::to_string(kSchemaVersion));
  }
  return std::unique_ptr<WitnessState>(new WitnessState(std::move(db)));
}

std::optional<LogState> WitnessState::read(std::string_view origin) {
  Statement statement = db_.prepare("SELECT size, root, checkpoint, timestamp FROM witnessed WHERE origin = ?");
  statement.bind(1, origin);
  if (!statement.step()) return std::nullopt;
  LogState state;
  state.size = from_column(statement.column_int(0));
  const std::vector<std::uint8_t> root = statement.column_blob(1);
  if (root.size() != state.root.size()) throw Error(ErrorKind::integrity, "stored root of " + std::string(origin) + " is not 32 bytes");
  std::copy(root.begin(), root.end(), state.root.begin());
  state.checkpoint = statement.column_text(2);
  state.timestamp = from_column(statement.column_int(3));
  return state;
}

std::optional<LogState> WitnessState::get(std::string_view origin) {
  const std::lock_guard lock(mutex_);
  keyservice::sqlite::ReadTransaction snapshot(db_);
  return read(origin);
}

void WitnessState::advance(std::string_view origin, const Decide& decide) {
  const std::lock_guard lock(mutex_);
  keyservice::sqlite::Transaction transaction(db_);
  const std::optional<LogState> stored = read(origin);
  const std::optional<LogState> next = decide(stored);
  if (!next) return;  // nothing to store: the transaction rolls back
  if (stored) {
    Statement update = db_.prepare(
        "UPDATE witnessed SET size = ?, root = ?, checkpoint = ?, timestamp = ?"
        " WHERE origin = ? AND size = ? AND root = ?");
    update.bind(1, to_column(next->size)).bind(2, next->root).bind(3, next->checkpoint);
    update.bind(4, to_column(next->timestamp)).bind(5, origin).bind(6, to_column(stored->size)).bind(7, stored->root);
    update.run();
  } else {
    Statement insert = db_.prepare(
        "INSERT INTO witnessed(origin, size, root, checkpoint, timestamp) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(origin) DO NOTHING");
    insert.bind(1, origin).bind(2, to_column(next->size)).bind(3, next->root).bind(4, next->checkpoint);
    insert.bind(5, to_column(next->timestamp));
    insert.run();
  }
  // The compare and swap: the row must still be the one `decide` judged (the transaction
  // already excludes other writers; this makes the rule explicit and checked).
  if (sqlite3_changes(db_.handle()) != 1) {
    throw Error(ErrorKind::conflict, "the witness state of " + std::string(origin) + " changed under the update");
  }
  transaction.commit();
}

void WitnessState::record_refusal(std::string_view origin, uint64_t time, int status, std::string_view request) {
  const std::lock_guard lock(mutex_);
  keyservice::sqlite::Transaction transaction(db_);
  Statement insert = db_.prepare("INSERT INTO refused(origin, time, status, request) VALUES (?, ?, ?, ?)");
  insert.bind(1, origin).bind(2, to_column(time)).bind(3, std::int64_t{status}).bind(4, request);
  insert.run();
  Statement trim = db_.prepare(
      "DELETE FROM refused WHERE origin = ?1 AND id NOT IN"
      " (SELECT id FROM refused WHERE origin = ?1 ORDER BY id DESC LIMIT ?2)");
  trim.bind(1, origin).bind(2, std::int64_t{kMaxRefusals});
  trim.run();
  transaction.commit();
}

std::size_t WitnessState::refusal_count(std::string_view origin) {
  const std::lock_guard lock(mutex_);
  Statement count = db_.prepare("SELECT count(*) FROM refused WHERE origin = ?");
  count.bind(1, origin);
  count.step();
  return static_cast<std::size_t>(count.column_int(0));
}

}  // namespace escrowless::witness
