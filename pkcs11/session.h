// One Cryptoki session (read-write, serial), closed by its destructor. The session pool owns these;
// other code borrows them through SessionPool::run.
#pragma once

#include <utility>

#include "pkcs11/cryptoki.h"
#include "pkcs11/module.h"
#include "pkcs11/secret.h"

namespace escrowless::pkcs11 {

class Session {
 public:
  static Session open(const Module& module, CK_SLOT_ID slot);

  ~Session();
  Session(Session&& other) noexcept
      : functions_(other.functions_), handle_(std::exchange(other.handle_, CK_INVALID_HANDLE)) {}
  Session& operator=(Session&& other) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  CK_SESSION_HANDLE handle() const { return handle_; }
  CK_FUNCTION_LIST* fn() const { return functions_; }

  // Logs the application in (login state is per token, shared by all its sessions).
  // CKR_USER_ALREADY_LOGGED_IN counts as success. A wrong PIN is Error(authentication) that names
  // neither the PIN nor its length.
  void login(CK_USER_TYPE user, const Secret& pin);
  void logout();
  // True when the token's login state for this application includes the normal user.
  bool user_logged_in() const;

 private:
  Session(CK_FUNCTION_LIST* functions, CK_SESSION_HANDLE handle)
      : functions_(functions), handle_(handle) {}

  CK_FUNCTION_LIST* functions_;
  CK_SESSION_HANDLE handle_;
};

}  // namespace escrowless::pkcs11
