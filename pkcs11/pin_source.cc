#include "pkcs11/pin_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "pkcs11/error.h"

namespace escrowless::pkcs11 {
namespace {

constexpr std::size_t kMaxPin = 256;

[[noreturn]] void fail(ErrorKind kind, const std::string& what) {
  throw Error(kind, "pin-source: " + what);
}

std::string_view strip_newline(std::string_view pin) {
  if (pin.ends_with("\r\n")) return pin.substr(0, pin.size() - 2);
  if (pin.ends_with('\n')) return pin.substr(0, pin.size() - 1);
  return pin;
}

Secret from_env(std::string_view name) {
  if (name.empty()) fail(ErrorKind::invalid_input, "'env:' needs a variable name");
  const std::string variable(name);
  const char* value = std::getenv(variable.c_str());
  if (value == nullptr) fail(ErrorKind::authentication, "environment variable " + variable + " is not set");
  const std::string_view pin = strip_newline(value);
  if (pin.empty()) fail(ErrorKind::authentication, "environment variable " + variable + " is empty");
  return Secret(pin);
}

struct Fd {
  int fd;
  ~Fd() { if (fd >= 0) ::close(fd); }
};

Secret from_file(const std::string& path) {
  if (path.empty() || path.front() != '/') {
    fail(ErrorKind::invalid_input, "file path '" + path + "' must be absolute");
  }
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (file.fd < 0) {
    fail(errno == ENOENT ? ErrorKind::not_found : ErrorKind::authentication,
         "cannot open " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) fail(ErrorKind::internal, "cannot stat " + path);
  if (!S_ISREG(st.st_mode)) fail(ErrorKind::invalid_input, path + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    fail(ErrorKind::invalid_input, path + " is accessible by group or others (mode " + mode +
                                       "); run: chmod 600 " + path);
  }
  std::array<std::uint8_t, kMaxPin + 3> buffer{};
  std::size_t size = 0;
  while (size < buffer.size()) {
    const ssize_t n = ::read(file.fd, buffer.data() + size, buffer.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      OPENSSL_cleanse(buffer.data(), buffer.size());
      fail(ErrorKind::internal, "cannot read " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  const std::string_view pin =
      strip_newline(std::string_view(reinterpret_cast<const char*>(buffer.data()), size));
  const bool too_long = pin.size() > kMaxPin;
  Secret secret(too_long ? std::string_view() : pin);
  OPENSSL_cleanse(buffer.data(), buffer.size());
  if (too_long) fail(ErrorKind::invalid_input, path + " holds more than 256 bytes");
  if (secret.empty()) fail(ErrorKind::authentication, path + " is empty");
  return secret;
}

}  // namespace

Secret read_pin(std::string_view pin_source) {
  if (pin_source.starts_with("env:")) return from_env(pin_source.substr(4));
  if (pin_source.starts_with("file://")) {  // file:///path: an empty host is the only one allowed
    const std::string_view rest = pin_source.substr(7);
    if (!rest.starts_with('/')) fail(ErrorKind::invalid_input, "file URIs with a host are not supported");
    return from_file(std::string(rest));
  }
  if (pin_source.starts_with("file:")) return from_file(std::string(pin_source.substr(5)));
  if (pin_source.starts_with("|")) {
    fail(ErrorKind::invalid_input, "running a command ('|...') is not supported");
  }
  return from_file(std::string(pin_source));
}

}  // namespace escrowless::pkcs11
