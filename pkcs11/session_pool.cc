#include "pkcs11/session_pool.h"

namespace escrowless::pkcs11 {

std::unique_ptr<SessionPool> SessionPool::create(std::shared_ptr<const Module> module,
                                                 CK_SLOT_ID slot, std::optional<Secret> pin,
                                                 std::size_t max_sessions) {
  if (!module) throw Error(ErrorKind::internal, "session pool needs a module");
  if (max_sessions == 0) throw Error(ErrorKind::invalid_input, "max_sessions must be at least 1");
  std::unique_ptr<SessionPool> pool(
      new SessionPool(std::move(module), slot, std::move(pin), max_sessions));
  Session first = pool->open_logged_in();
  std::lock_guard lock(pool->mutex_);
  pool->stats_.open = 1;
  pool->idle_.push_back(std::move(first));
  return pool;
}

Session SessionPool::open_logged_in() {
  Session session = Session::open(*module_, slot_);
  {
    std::lock_guard lock(mutex_);
    ++stats_.opened;
  }
  if (pin_ && !session.user_logged_in()) login(session);
  return session;
}

void SessionPool::login(Session& session) {
  session.login(CKU_USER, *pin_);
  login_count_.fetch_add(1, std::memory_order_acq_rel);
  std::lock_guard lock(mutex_);
  ++stats_.logins;
}

Session SessionPool::borrow() {
  std::unique_lock lock(mutex_);
  available_.wait(lock, [this] { return !idle_.empty() || stats_.open < max_sessions_; });
  if (!idle_.empty()) {
    Session session = std::move(idle_.back());
    idle_.pop_back();
    return session;
  }
  ++stats_.open;  // reserve the slot, open outside the lock
  lock.unlock();
  try {
    return open_logged_in();
  } catch (...) {
    lock.lock();
    --stats_.open;
    available_.notify_one();
    throw;
  }
}

void SessionPool::give_back(Session session, bool discard) {
  {
    std::lock_guard lock(mutex_);
    if (discard) {
      --stats_.open;
      ++stats_.discarded;
    } else {
      idle_.push_back(std::move(session));
    }
  }
  available_.notify_one();
  // A discarded session closes here, outside the lock, when `session` goes out of scope.
}

SessionPool::Stats SessionPool::stats() const {
  std::lock_guard lock(mutex_);
  Stats copy = stats_;
  copy.idle = idle_.size();
  copy.operations = operations_.load(std::memory_order_relaxed);
  copy.failures = failures_.load(std::memory_order_relaxed);
  return copy;
}

bool SessionPool::handle_failure(const Error& error, Lease& lease, bool first_attempt) {
  const CK_RV rv = error.rv();
  if (breaks_session(rv)) lease.discard();
  if (!first_attempt) return false;
  // The call never ran: the session was gone, or an earlier operation was left active on it.
  if (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED || rv == CKR_OPERATION_ACTIVE) {
    return true;
  }
  if (rv == CKR_USER_NOT_LOGGED_IN && pin_) {
    login(lease.session());
    return true;
  }
  return false;
}

}  // namespace escrowless::pkcs11
