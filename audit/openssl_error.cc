#include "audit/openssl_error.h"

#include <openssl/err.h>

#include <array>
#include <string>

namespace escrowless::audit {

void throw_openssl_error(std::string_view call, ErrorKind kind) {
  std::string message(call);
  message += " failed";
  const unsigned long code = ERR_get_error();
  if (code != 0) {
    std::array<char, 256> reason{};
    ERR_error_string_n(code, reason.data(), reason.size());
    message += ": ";
    message += reason.data();
  }
  ERR_clear_error();
  throw Error(kind, message);
}

void clear_openssl_errors() noexcept { ERR_clear_error(); }

}  // namespace escrowless::audit
