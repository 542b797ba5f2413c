// A thin RAII layer over the SQLite C API: a connection and prepared statements, every return
// code checked and turned into keyservice::Error naming the statement's purpose.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace escrowless::keyservice::sqlite {

class Statement;

class Database {
 public:
  // Opens (creating if asked) the database file with WAL journaling, synchronous=FULL (a
  // committed transaction survives power loss), foreign keys on and a busy timeout, so readers on
  // other connections proceed while one writer commits.
  static Database open(const std::string& path, bool create);
  // Opens an existing database read-only, for reading a store that no process writes meanwhile
  // (the caller holds what keeps its writers out). Nothing in its folder changes: without a
  // write-ahead log beside it (its writer stopped cleanly) the file is opened as immutable, so
  // SQLite makes no -wal or -shm files either; with one (its writer crashed), it is read through it.
  static Database open_read_only(const std::string& path);

  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(std::string_view sql);
  Statement prepare(std::string_view sql);
  sqlite3* handle() const { return db_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// Runs BEGIN IMMEDIATE on construction; rolls back unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

// A read snapshot: BEGIN (deferred) on construction, COMMIT on destruction.
class ReadTransaction {
 public:
  explicit ReadTransaction(Database& db);
  ~ReadTransaction();
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Database& db_;
};

class Statement {
 public:
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binding (1-based, like SQLite). Blobs and texts are copied (SQLITE_TRANSIENT) unless bound
  // with the _static variants, whose data must outlive the next step().
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, std::span<const std::uint8_t> blob);
  Statement& bind_static(int index, std::span<const std::uint8_t> blob);
  Statement& bind_null(int index);

  // True while there is a row; false when done.
  bool step();
  // step() that must finish without a row (INSERT, UPDATE...).
  void run();
  // Ready for new bindings and a new step().
  void reset();

  std::int64_t column_int(int index) const;
  std::string column_text(int index) const;
  std::vector<std::uint8_t> column_blob(int index) const;
  std::span<const std::uint8_t> column_blob_view(int index) const;  // valid until the next step
  bool column_is_null(int index) const;
  int column_count() const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
  void check(int rc, const char* what) const;

  sqlite3* db_;
  sqlite3_stmt* statement_;
};

}  // namespace escrowless::keyservice::sqlite
