#include "keyservice/store/sqlite.h"

#include <filesystem>
#include <mutex>
#include <utility>

#include "keyservice/error.h"

namespace escrowless::keyservice::sqlite {
namespace {

[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what) {
  const std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary = rc & 0xff;
  // A busy or full or unreadable database is the store being unavailable, not a bug.
  const bool unavailable = primary == SQLITE_BUSY || primary == SQLITE_LOCKED ||
                           primary == SQLITE_FULL || primary == SQLITE_IOERR ||
                           primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY ||
                           primary == SQLITE_PERM;
  const bool corrupt = primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
  throw Error(corrupt ? ErrorKind::integrity
                      : unavailable ? ErrorKind::unavailable : ErrorKind::internal,
              "SQLite " + std::string(what) + ": " + detail);
}

// SQLite counts every allocation of every connection under one global mutex unless told not to;
// with a connection per worker thread that mutex was where concurrent bundle fetches queued. The
// setting must come before SQLite initializes; if something else initialized it first, the
// counting stays on, which costs speed, not correctness.
void configure_once() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

Database Database::open(const std::string& path, bool create) {
  configure_once();
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
                    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    throw Error(ErrorKind::unavailable, "cannot open database " + path + ": " + detail);
  }
  Database database(db);
  sqlite3_busy_timeout(db, 5000);
  database.exec("PRAGMA journal_mode=WAL");
  database.exec("PRAGMA synchronous=FULL");
  database.exec("PRAGMA foreign_keys=ON");
  return database;
}

Database Database::open_read_only(const std::string& path) {
  configure_once();
  sqlite3* db = nullptr;
  std::string uri = "file:";
  for (const char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      static constexpr char kHex[] = "0123456789ABCDEF";
      uri += '%';
      uri += kHex[static_cast<unsigned char>(c) >> 4];
      uri += kHex[static_cast<unsigned char>(c) & 0xf];
    } else {
      uri += c;
    }
  }
  if (!std::filesystem::exists(path + "-wal")) uri += "?immutable=1";
  const int rc = sqlite3_open_v2(uri.c_str(), &db,
                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                                 nullptr);
  if (rc != SQLITE_OK) {
    const std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    throw Error(ErrorKind::unavailable, "cannot open database " + path + " for reading: " + detail);
  }
  Database database(db);
  sqlite3_busy_timeout(db, 5000);
  return database;
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

Database::Database(Database&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    if (db_) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    sqlite3_free(message);
    fail(db_, rc, text.substr(0, 60));
  }
}

Statement Database::prepare(std::string_view sql) {
  sqlite3_stmt* statement = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
  if (rc != SQLITE_OK) fail(db_, rc, "prepare");
  return Statement(db_, statement);
}

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

ReadTransaction::ReadTransaction(Database& db) : db_(db) { db_.exec("BEGIN"); }

ReadTransaction::~ReadTransaction() { sqlite3_exec(db_.handle(), "COMMIT", nullptr, nullptr, nullptr); }

Statement::~Statement() { sqlite3_finalize(statement_); }

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), statement_(std::exchange(other.statement_, nullptr)) {}

void Statement::check(int rc, const char* what) const {
  if (rc != SQLITE_OK) fail(db_, rc, what);
}

Statement& Statement::bind(int index, std::int64_t value) {
  check(sqlite3_bind_int64(statement_, index, value), "bind");
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  check(sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()),
                          SQLITE_TRANSIENT),
        "bind");
  return *this;
}

Statement& Statement::bind(int index, std::span<const std::uint8_t> blob) {
  check(sqlite3_bind_blob(statement_, index, blob.data(), static_cast<int>(blob.size()),
                          SQLITE_TRANSIENT),
        "bind");
  return *this;
}

Statement& Statement::bind_static(int index, std::span<const std::uint8_t> blob) {
  check(sqlite3_bind_blob(statement_, index, blob.data(), static_cast<int>(blob.size()),
                          SQLITE_STATIC),
        "bind");
  return *this;
}

Statement& Statement::bind_null(int index) {
  check(sqlite3_bind_null(statement_, index), "bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, rc, "step");
}

void Statement::run() {
  if (step()) throw Error(ErrorKind::internal, "SQLite statement returned a row unexpectedly");
  reset();
}

void Statement::reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

std::int64_t Statement::column_int(int index) const { return sqlite3_column_int64(statement_, index); }

std::string Statement::column_text(int index) const {
  const auto* text = sqlite3_column_text(statement_, index);
  const int size = sqlite3_column_bytes(statement_, index);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size))
              : std::string();
}

std::vector<std::uint8_t> Statement::column_blob(int index) const {
  const auto view = column_blob_view(index);
  return {view.begin(), view.end()};
}

std::span<const std::uint8_t> Statement::column_blob_view(int index) const {
  const void* data = sqlite3_column_blob(statement_, index);
  const int size = sqlite3_column_bytes(statement_, index);
  return {static_cast<const std::uint8_t*>(data), static_cast<std::size_t>(size)};
}

int Statement::column_count() const { return sqlite3_column_count(statement_); }

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(statement_, index) == SQLITE_NULL;
}

}  // namespace escrowless::keyservice::sqlite
