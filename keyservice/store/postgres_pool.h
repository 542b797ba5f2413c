// PostgreSQL connections for many threads: each caller borrows one and gives it back by a
// destructor. A connection that is no longer up (the server restarted, the network broke) is
// closed instead of kept, so the next caller connects afresh.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "keyservice/store/postgresql.h"

namespace escrowless::keyservice::postgresql {

class ConnectionPool {
 public:
  ConnectionPool(std::string conninfo, std::size_t max_idle) : conninfo_(std::move(conninfo)), max_idle_(max_idle) {}

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

  // An idle connection, or a new one. Error(unavailable) if the server can't be reached.
  Lease acquire() {
    {
      const std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        std::unique_ptr<Connection> connection = std::move(idle_.back());
        idle_.pop_back();
        return Lease(*this, std::move(connection));
      }
    }
    return Lease(*this, std::make_unique<Connection>(Connection::open(conninfo_)));
  }

 private:
  void give_back(std::unique_ptr<Connection> connection) noexcept {
    // Broken, or left inside a transaction (its ROLLBACK failed): never reused.
    if (!connection || !connection->ok() || PQtransactionStatus(connection->handle()) != PQTRANS_IDLE) return;
    const std::lock_guard lock(mutex_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(connection));
  }

  const std::string conninfo_;
  const std::size_t max_idle_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace escrowless::keyservice::postgresql
