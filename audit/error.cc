#include "audit/error.h"

namespace escrowless::audit {

const char* to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::invalid_input:
      return "invalid_input";
    case ErrorKind::mismatch:
      return "mismatch";
    case ErrorKind::internal:
      return "internal";
  }
  return "unknown";
}

}  // namespace escrowless::audit
