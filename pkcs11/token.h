// A token opened from a PKCS#11 URI: the module, the one matching token, a logged-in session pool.
// This is what the rest of the system holds; the pieces stay available for finer control.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pkcs11/module.h"
#include "pkcs11/session_pool.h"
#include "pkcs11/slot.h"
#include "pkcs11/uri.h"

namespace escrowless::pkcs11 {

struct TokenOptions {
  std::size_t max_sessions = 8;
  // Log in with the URI's pin-source. Without login only public objects and token info are usable.
  bool login = true;
  // C_Initialize's pReserved string for modules that need one (Module::load). Not part of the
  // URI: RFC 7512 has no attribute for it.
  std::optional<std::string> module_init_args;
};

class Token {
 public:
  // Loads the URI's module-path (kDefaultModulePath when absent), finds the one matching token,
  // reads the PIN from pin-source and logs in. Errors: unavailable (module), not_found (token),
  // authentication (PIN), invalid_input (URI).
  static std::unique_ptr<Token> open(const Uri& uri, const TokenOptions& options = {});

  // As found at open (slot_id may have changed since, after a reconnect; see SessionPool).
  const TokenInfo& info() const { return info_; }
  // Read through the pool, so that it never races a reconnect and reports a lost token as such.
  std::vector<Mechanism> mechanisms();
  const Module& module() const { return *module_; }
  SessionPool& pool() { return *pool_; }

 private:
  Token(std::shared_ptr<const Module> module, TokenInfo info, std::unique_ptr<SessionPool> pool)
      : module_(std::move(module)), info_(std::move(info)), pool_(std::move(pool)) {}

  std::shared_ptr<const Module> module_;
  TokenInfo info_;
  std::unique_ptr<SessionPool> pool_;
};

}  // namespace escrowless::pkcs11
