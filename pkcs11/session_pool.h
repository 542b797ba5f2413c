// A bounded, thread-safe pool of logged-in sessions on one token.
//
// Callers never hold a session: they pass a function to run(), which borrows a session, calls it,
// and gives the session back. A session whose call failed with a device or session error is closed
// and dropped, never handed out again. Two failures are retried once, transparently:
// CKR_USER_NOT_LOGGED_IN, or any error after which the session says it is no longer logged in
// (the token forgot our login, e.g. after every session closed: log in again) and CKR_SESSION_HANDLE_INVALID / CKR_SESSION_CLOSED / CKR_OPERATION_ACTIVE (the call
// never ran: use a new session).
//
// Losing the token: after any failed call the pool asks the module whether the token is still
// there (C_GetTokenInfo, same serial). If it is not, the failure becomes Error(unavailable) and the
// pool is marked lost. While lost, run() fails fast with Error(unavailable), except that at most
// once a second one caller reconnects: it waits until no session is borrowed, closes every
// session, re-initializes the module (C_Finalize, C_Initialize: SoftHSM sees a token that went
// away only after that), finds the token again and logs in. Handles found before are void after
// this; login_count() moves on, which is how key handle caches know.
//
// Login state is per token and process (Cryptoki shares it among all sessions of an application),
// so a second pool on a token this process is already logged in to does not log in again.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "pkcs11/error.h"
#include "pkcs11/module.h"
#include "pkcs11/secret.h"
#include "pkcs11/session.h"

namespace escrowless::pkcs11 {

class SessionPool {
 public:
  struct Stats {
    std::size_t open = 0;        // sessions open now (idle + borrowed)
    std::size_t idle = 0;
    std::uint64_t opened = 0;    // sessions opened since creation
    std::uint64_t discarded = 0; // sessions dropped after a device or session error
    std::uint64_t logins = 0;    // successful C_Login calls
    std::uint64_t operations = 0;  // run() calls
    std::uint64_t failures = 0;    // run() calls that ended in an error
    bool token_lost = false;       // the token went away and has not been reconnected yet
    std::uint64_t losses = 0;      // times the token was found gone
    std::uint64_t reconnects = 0;  // successful re-initializations after a loss
  };

  // Finds the token's slot again after the module was re-initialized (slot ids may change).
  using Locate = std::function<CK_SLOT_ID(const Module&)>;

  // Opens the first session and, when a PIN is given, logs in at once so that a wrong PIN fails
  // here rather than on first use. `max_sessions` >= 1 bounds the sessions open at once; run()
  // waits when all are borrowed. Without `locate`, a reconnect reuses `slot`.
  static std::unique_ptr<SessionPool> create(std::shared_ptr<const Module> module, CK_SLOT_ID slot,
                                             std::optional<Secret> pin, std::size_t max_sessions,
                                             Locate locate = {});

  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;
  ~SessionPool() = default;

  // Runs f(Session&) on a borrowed session and returns its result.
  template <class F>
  std::invoke_result_t<F&, Session&> run(F&& f);

  // Readiness: a round trip to the token on a pooled session (its info, our login). Throws
  // Error(unavailable) when the token is gone; reconnects first when it is due.
  void check_ready();

  Stats stats() const;
  // Successful logins so far. Object handles of private objects belong to one login (SoftHSM
  // drops them on logout), so holders of handles compare this to know when to look them up again.
  std::uint64_t login_count() const { return login_count_.load(std::memory_order_acquire); }
  const Module& module() const { return *module_; }
  CK_FUNCTION_LIST* fn() const { return module_->fn(); }
  // Current slot of the token; only stable while a session is borrowed (a reconnect may move it).
  CK_SLOT_ID slot() const { return slot_.load(std::memory_order_acquire); }

 private:
  class Lease {
   public:
    Lease(SessionPool& pool, Session session) : pool_(pool), session_(std::move(session)) {}
    ~Lease() { pool_.give_back(std::move(session_), discard_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Session& session() { return session_; }
    void discard() { discard_ = true; }

   private:
    SessionPool& pool_;
    Session session_;
    bool discard_ = false;
  };

  SessionPool(std::shared_ptr<const Module> module, CK_SLOT_ID slot, std::optional<Secret> pin,
              std::size_t max_sessions, Locate locate)
      : module_(std::move(module)),
        slot_(slot),
        pin_(std::move(pin)),
        max_sessions_(max_sessions),
        locate_(std::move(locate)) {}

  Session borrow();
  void give_back(Session session, bool discard);
  Session open_logged_in();
  void login(Session& session);
  // After a failed call: decides whether the session is dropped and whether to retry once.
  bool handle_failure(const Error& error, Lease& lease, bool first_attempt);
  // Called with a session still borrowed (so no reconnect runs meanwhile): when the token is gone,
  // marks the pool lost and throws Error(unavailable) naming `error`; otherwise returns.
  void throw_if_token_lost(const Error& error, Lease* lease);
  bool token_present() const;
  // With `lock` held and the pool lost: reconnects, or throws Error(unavailable).
  void reconnect(std::unique_lock<std::mutex>& lock);

  std::shared_ptr<const Module> module_;
  std::atomic<CK_SLOT_ID> slot_;
  std::string serial_;  // the token's serial number, to recognise it
  std::optional<Secret> pin_;
  std::size_t max_sessions_;
  Locate locate_;

  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<Session> idle_;
  std::size_t borrowed_ = 0;
  bool lost_ = false;
  bool reconnecting_ = false;
  std::string lost_reason_;
  std::chrono::steady_clock::time_point next_reconnect_{};
  Stats stats_;
  std::atomic<std::uint64_t> login_count_{0};
  std::atomic<std::uint64_t> operations_{0};
  std::atomic<std::uint64_t> failures_{0};
};

template <class F>
std::invoke_result_t<F&, Session&> SessionPool::run(F&& f) {
  operations_.fetch_add(1, std::memory_order_relaxed);
  try {
    for (bool first_attempt = true;; first_attempt = false) {
      Lease lease(*this, borrow());
      try {
        return f(lease.session());
      } catch (const Error& error) {
        bool retry = false;
        try {
          retry = handle_failure(error, lease, first_attempt);
        } catch (const Error& again) {  // logging in again failed
          lease.discard();
          throw_if_token_lost(again, &lease);
          throw;
        }
        if (retry) continue;
        throw_if_token_lost(error, &lease);
        throw;
      }
    }
  } catch (...) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    throw;
  }
}

}  // namespace escrowless::pkcs11
