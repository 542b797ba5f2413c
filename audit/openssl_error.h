// One place that turns a failed OpenSSL call into an audit::Error naming the call.
#pragma once

#include <string_view>

#include "audit/error.h"

namespace escrowless::audit {

// Throws Error(kind) whose message names `call` and OpenSSL's first queued reason, then clears
// the thread's OpenSSL error queue so a stale error never leaks into a later, unrelated check.
[[noreturn]] void throw_openssl_error(std::string_view call,
                                      ErrorKind kind = ErrorKind::internal);

// For OpenSSL calls that return 1 on success: anything else throws, naming the call.
inline void check_openssl(int rc, std::string_view call, ErrorKind kind = ErrorKind::internal) {
  if (rc != 1) throw_openssl_error(call, kind);
}

// Drops queued OpenSSL errors after a call whose failure we handled as an expected outcome
// (a signature that does not verify, input that does not parse).
void clear_openssl_errors() noexcept;

}  // namespace escrowless::audit
