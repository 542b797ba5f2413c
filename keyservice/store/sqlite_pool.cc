#include "keyservice/store/sqlite_pool.h"

#include <utility>

namespace escrowless::keyservice::sqlite {

Statement& Connection::statement(std::string_view sql) {
  auto found = statements_.find(sql);
  if (found == statements_.end()) {
    found = statements_.emplace(std::string(sql), db_.prepare(sql)).first;
  }
  return found->second;
}

ConnectionPool::Lease ConnectionPool::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(connection));
    }
  }
  Database db = Database::open(path_, false);
  // Many pooled connections each with SQLite's default 2 MiB page cache grow the process with
  // the database; the kernel's page cache already holds the file for all of them.
  db.exec("PRAGMA cache_size = -512");
  return Lease(*this, std::make_unique<Connection>(std::move(db)));
}

void ConnectionPool::give_back(std::unique_ptr<Connection> connection) noexcept {
  // A connection still inside a transaction (its ROLLBACK failed) is closed, never reused:
  // closing rolls it back.
  if (!connection || sqlite3_get_autocommit(connection->db().handle()) == 0) return;
  try {
    std::lock_guard lock(mutex_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(connection));
  } catch (...) {
    // Out of memory or a broken mutex: the connection just closes.
  }
}

}  // namespace escrowless::keyservice::sqlite
