#include "pkcs11/session_pool.h"

#include <string_view>

#include "pkcs11/padded_text.h"

namespace escrowless::pkcs11 {
namespace {

// At most one reconnect attempt per interval, so a missing token costs one C_Initialize a second,
// not one per request.
constexpr auto kReconnectInterval = std::chrono::seconds(1);
// How long a reconnect waits for borrowed sessions to come back before giving up this time (a
// caller that runs the pool inside run() would otherwise wait for itself).
constexpr auto kQuiesceWait = std::chrono::seconds(2);

// The serial of the initialized token in `slot`, or nullopt when there is none.
std::optional<std::string> serial_in(const Module& module, CK_SLOT_ID slot) {
  CK_TOKEN_INFO info{};
  if (module.fn()->C_GetTokenInfo(slot, &info) != CKR_OK) return std::nullopt;
  if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) return std::nullopt;
  return padded_text(info.serialNumber);
}

Error unavailable(const std::string& why, CK_RV rv) {
  return Error(ErrorKind::unavailable, "the token is unavailable: " + why, rv);
}

}  // namespace

std::unique_ptr<SessionPool> SessionPool::create(std::shared_ptr<const Module> module,
                                                 CK_SLOT_ID slot, std::optional<Secret> pin,
                                                 std::size_t max_sessions, Locate locate) {
  if (!module) throw Error(ErrorKind::internal, "session pool needs a module");
  if (max_sessions == 0) throw Error(ErrorKind::invalid_input, "max_sessions must be at least 1");
  std::unique_ptr<SessionPool> pool(
      new SessionPool(std::move(module), slot, std::move(pin), max_sessions, std::move(locate)));
  Session first = pool->open_logged_in();
  pool->serial_ = serial_in(*pool->module_, slot).value_or("");
  std::lock_guard lock(pool->mutex_);
  pool->stats_.open = 1;
  pool->idle_.push_back(std::move(first));
  return pool;
}

Session SessionPool::open_logged_in() {
  Session session = Session::open(*module_, slot());
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
  while (true) {
    available_.wait(lock, [this] {
      return !reconnecting_ && (lost_ || !idle_.empty() || stats_.open < max_sessions_);
    });
    if (lost_) {
      reconnect(lock);  // throws unless the token is back
      continue;
    }
    if (!idle_.empty()) {
      Session session = std::move(idle_.back());
      idle_.pop_back();
      ++borrowed_;
      return session;
    }
    break;
  }
  ++stats_.open;  // reserve the slot, open outside the lock
  ++borrowed_;    // and keep reconnects out while the module is in use
  lock.unlock();
  try {
    return open_logged_in();
  } catch (const Error& error) {
    // Checked before the reservation ends, so no reconnect runs under our C_GetTokenInfo.
    std::optional<Error> lost;
    try {
      throw_if_token_lost(error, nullptr);
    } catch (const Error& e) {
      lost = e;
    }
    lock.lock();
    --stats_.open;
    --borrowed_;
    available_.notify_all();
    if (lost) throw *lost;
    throw;
  }
}

void SessionPool::give_back(Session session, bool discard) {
  bool kept = false;
  {
    std::lock_guard lock(mutex_);
    if (!discard && !lost_) {
      --borrowed_;
      idle_.push_back(std::move(session));
      kept = true;
    }
  }
  if (!kept) {
    // Closed while still counted as borrowed: a reconnect waits for borrowed_ == 0, so it can't
    // finalize the module under this C_CloseSession (SoftHSM crashes if it does).
    { const Session closing = std::move(session); }
    std::lock_guard lock(mutex_);
    --borrowed_;
    --stats_.open;
    if (discard) ++stats_.discarded;
  }
  // All waiters: a reconnect may be waiting for the last borrowed session.
  available_.notify_all();
}

SessionPool::Stats SessionPool::stats() const {
  std::lock_guard lock(mutex_);
  Stats copy = stats_;
  copy.idle = idle_.size();
  copy.operations = operations_.load(std::memory_order_relaxed);
  copy.failures = failures_.load(std::memory_order_relaxed);
  copy.token_lost = lost_;
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
  // Tokens say "you are logged out" in their own words (NSS softokn: CKR_HOST_MEMORY from
  // C_SignInit with a key of the lost login), so ask the session instead of trusting the code.
  if (pin_ && !breaks_session(rv) && !lease.session().user_logged_in()) {
    login(lease.session());
    return true;
  }
  return false;
}

bool SessionPool::token_present() const {
  const std::optional<std::string> serial = serial_in(*module_, slot());
  return serial && *serial == serial_;
}

void SessionPool::throw_if_token_lost(const Error& error, Lease* lease) {
  // A refused request (bad template, wrong mechanism) says nothing about the token.
  if (error.kind() == ErrorKind::invalid_input || error.kind() == ErrorKind::template_refused) return;
  if (token_present()) return;
  if (lease) lease->discard();
  {
    std::lock_guard lock(mutex_);
    if (!lost_) {
      lost_ = true;
      lost_reason_ = error.what();
      ++stats_.losses;
      next_reconnect_ = std::chrono::steady_clock::now();
    }
  }
  throw unavailable(error.what(), error.rv());
}

void SessionPool::reconnect(std::unique_lock<std::mutex>& lock) {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_reconnect_) throw unavailable(lost_reason_ + "; reconnecting", CKR_TOKEN_NOT_PRESENT);
  next_reconnect_ = now + kReconnectInterval;
  reconnecting_ = true;
  // Cryptoki forbids C_Finalize while another thread is inside a call: wait for every session.
  if (!available_.wait_for(lock, kQuiesceWait, [this] { return borrowed_ == 0; })) {
    reconnecting_ = false;
    available_.notify_all();
    throw unavailable(lost_reason_ + "; sessions still busy, reconnecting later", CKR_TOKEN_NOT_PRESENT);
  }
  std::vector<Session> stale = std::move(idle_);
  idle_.clear();
  stats_.open -= stale.size();
  lock.unlock();

  std::optional<Session> session;
  std::optional<Error> failure;
  try {
    stale.clear();  // C_CloseSession each; harmless when the token is gone
    module_->reinitialize();
    if (locate_) slot_.store(locate_(*module_), std::memory_order_release);
    if (!token_present()) throw Error(ErrorKind::unavailable, "the token is still absent", CKR_TOKEN_NOT_PRESENT);
    session.emplace(open_logged_in());
    // Every handle from before is void, even where no login was needed to get a session.
    login_count_.fetch_add(1, std::memory_order_acq_rel);
  } catch (const Error& e) {
    failure = e;
  } catch (const std::exception& e) {
    failure = Error(ErrorKind::unavailable, e.what());
  }

  lock.lock();
  reconnecting_ = false;
  if (session) {
    idle_.push_back(std::move(*session));
    ++stats_.open;
    ++stats_.reconnects;
    lost_ = false;
    lost_reason_.clear();
  }
  available_.notify_all();
  if (failure) throw unavailable(lost_reason_ + "; reconnect failed: " + failure->what(), failure->rv());
}

void SessionPool::check_ready() {
  run([this](Session& session) {
    if (!token_present()) {
      throw Error(ErrorKind::unavailable, "C_GetTokenInfo: the token is not there", CKR_TOKEN_NOT_PRESENT);
    }
    if (pin_ && !session.user_logged_in()) {
      throw Error(ErrorKind::authentication, "the token logged us out", CKR_USER_NOT_LOGGED_IN);
    }
  });
}

}  // namespace escrowless::pkcs11
