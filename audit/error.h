// The one error type of the audit core (and the project's error convention: exceptions, caught at
// module edges). Callers tell "you sent garbage" from "this does not check" by kind(), not by text.
#pragma once

#include <stdexcept>
#include <string>

namespace escrowless::audit {

enum class ErrorKind {
  // Malformed input: wrong sizes, index >= size, bad base64, trailing garbage, unsupported types.
  invalid_input,
  // Well-formed input that does not check: a proof whose root differs, a signature that fails.
  mismatch,
  // A library call (OpenSSL) failed for reasons that are not the caller's input, e.g. out of
  // memory. Kept apart so an API layer never answers 4xx for the server's own fault.
  internal,
};

// Name of a kind, for log lines and messages ("invalid_input", "mismatch", "internal").
const char* to_string(ErrorKind kind) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}

  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// Shorthands that read well at throw sites: `throw invalid_input("...")`.
inline Error invalid_input(const std::string& message) {
  return Error(ErrorKind::invalid_input, message);
}
inline Error mismatch(const std::string& message) { return Error(ErrorKind::mismatch, message); }

}  // namespace escrowless::audit
