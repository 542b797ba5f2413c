// The bearer credential keyclient sends, read from a file the way PINs are (pkcs11/pin_source):
// a regular file no one but its owner can read or write, the credential on its first line. The
// text lives in one buffer wiped on destruction and never appears in a message.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace escrowless::keyclient {

// Bad input to keyclient itself (a bad option value, a credential file it refuses): exit 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Credential {
 public:
  // Reads `path`. Throws UsageError naming the file (never its content) if it can't be opened,
  // is not a regular file, is accessible by group or others, is empty, longer than 1024 bytes,
  // or holds anything but visible ASCII (which a bearer token is).
  static Credential read(const std::string& path);

  ~Credential();
  // Not copyable or movable (a moved-from short string keeps its bytes): read() returns a
  // prvalue, so `const Credential c = Credential::read(path);` still works.
  Credential(const Credential&) = delete;
  Credential& operator=(const Credential&) = delete;

  const std::string& value() const noexcept { return value_; }

 private:
  explicit Credential(std::string_view text) : value_(text) {}
  std::string value_;
};

}  // namespace escrowless::keyclient
