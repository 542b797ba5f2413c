// Connections to one SQLite file for many threads: each caller borrows a connection of its own
// (with its prepared statements cached) and gives it back by a destructor. Concurrency between
// callers is SQLite's: WAL readers run beside the one writer, and write transactions (BEGIN
// IMMEDIATE) wait for each other through the busy timeout, across threads and processes alike.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keyservice/store/sqlite.h"

namespace escrowless::keyservice::sqlite {

// A connection and its statements, prepared once each and kept by SQL text.
class Connection {
 public:
  explicit Connection(Database db) : db_(std::move(db)) {}

  Database& db() { return db_; }

  // The statement for `sql`, unbound and reset. Use it through a StatementUse so it is reset
  // again however the use ends.
  Statement& statement(std::string_view sql);

 private:
  Database db_;
  std::map<std::string, Statement, std::less<>> statements_;
};

// Resets a borrowed statement on scope exit, so a failed step() or an early return leaves it
// ready for the next caller.
class StatementUse {
 public:
  StatementUse(Connection& connection, std::string_view sql)
      : statement_(connection.statement(sql)) {}
  ~StatementUse() { statement_.reset(); }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

  Statement* operator->() { return &statement_; }
  Statement& operator*() { return statement_; }

 private:
  Statement& statement_;
};

class ConnectionPool {
 public:
  // Connections open `path` (which must exist) on demand; at most `max_idle` are kept between uses.
  ConnectionPool(std::string path, std::size_t max_idle)
      : path_(std::move(path)), max_idle_(max_idle) {}

  const std::string& path() const { return path_; }

  class Lease {
   public:
    Lease(ConnectionPool& pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    ~Lease() { pool_.give_back(std::move(connection_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    Connection& operator*() { return *connection_; }
    Connection* operator->() { return connection_.get(); }

   private:
    ConnectionPool& pool_;
    std::unique_ptr<Connection> connection_;
  };

  // An idle connection, or a new one. Throws Error(unavailable) if the file can't be opened.
  Lease acquire();

 private:
  void give_back(std::unique_ptr<Connection> connection) noexcept;

  const std::string path_;
  const std::size_t max_idle_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace escrowless::keyservice::sqlite
