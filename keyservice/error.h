// Errors of the domain layer. The API maps each kind to one HTTP status in one table; CLIs map
// them to exit codes. Messages name what is wrong and never carry a secret.
#pragma once

#include <stdexcept>
#include <string>

namespace escrowless::keyservice {

enum class ErrorKind {
  invalid_input,  // the caller sent something malformed (4xx)
  not_found,      // no such account, device, entry (404)
  conflict,       // exists already, or the state forbids it (409)
  unauthenticated,  // the credential presented is not valid (401)
  unavailable,    // token or store unreachable; retry later (503)
  integrity,      // stored data contradicts what the log signed: stop, never serve it
  internal,       // a bug on our side
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace escrowless::keyservice
