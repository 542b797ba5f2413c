// Errors of the PKCS#11 layer. Every Cryptoki call goes through check(), which keeps the CKR_* name
// in the message and maps it to one of a few kinds in a single table (error.cc), so callers decide
// on the kind (retry, 503, 401, 400) and never on raw return values.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "pkcs11/cryptoki.h"

namespace escrowless::pkcs11 {

enum class ErrorKind {
  unavailable,     // module, slot or token missing or failing; retry later (HTTP 503)
  authentication,  // wrong, locked or missing PIN (never says which PIN)
  invalid_input,   // the caller asked for something malformed or forbidden
  not_found,       // no such token, object or key
  internal,        // a bug on our side or an unexpected module answer
  // The token refused our key template, or made a key that breaks the no-escrow rules (HTTP 500:
  // a token configuration problem, not a fault that goes away by retrying).
  template_refused,
  // Several private keys answer one lookup by CKA_ID or label (one may pose as another: an
  // auditor's inventory names them). Lookups refuse to pick one (HTTP 409, never a 500).
  ambiguous_key,
};

std::string_view to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, CK_RV rv = CKR_OK)
      : std::runtime_error(message), kind_(kind), rv_(rv) {}

  ErrorKind kind() const noexcept { return kind_; }
  // The Cryptoki return value behind this error, or CKR_OK when it came from our own checks.
  CK_RV rv() const noexcept { return rv_; }

 private:
  ErrorKind kind_;
  CK_RV rv_;
};

// "CKR_PIN_INCORRECT"; unknown and vendor values as "CKR_0x80000123".
std::string rv_name(CK_RV rv);
ErrorKind kind_of(CK_RV rv);

// True for return values after which a session must not be reused (closed by the token, device
// failure); the session pool discards such sessions instead of returning them.
bool breaks_session(CK_RV rv);

// Throws Error{kind_of(rv), "<call>: <CKR name>"} unless rv is CKR_OK.
inline void check(CK_RV rv, std::string_view call) {
  if (rv != CKR_OK) [[unlikely]] {
    throw Error(kind_of(rv), std::string(call) + " failed: " + rv_name(rv), rv);
  }
}

}  // namespace escrowless::pkcs11
