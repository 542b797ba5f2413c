#include "audit/keyclient/credential_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace escrowless::keyclient {
namespace {

constexpr std::size_t kMaxCredential = 1024;

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Wipes the read buffer whatever way the function leaves.
struct Wiped {
  std::array<char, kMaxCredential + 3> bytes{};
  ~Wiped() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

std::string_view strip_newline(std::string_view text) {
  if (text.ends_with('\n')) text.remove_suffix(1);
  if (text.ends_with('\r')) text.remove_suffix(1);
  return text;
}

}  // namespace

Credential Credential::read(const std::string& path) {
  const std::string where = "credential file " + path;
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (file.fd < 0) throw UsageError("cannot open " + where + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) throw UsageError("cannot stat " + where + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw UsageError(where + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw UsageError(where + " is accessible by group or others (mode " + mode + "); run: chmod 600 " + path);
  }
  Wiped buffer;
  std::size_t size = 0;
  while (size < buffer.bytes.size()) {
    const ssize_t n = ::read(file.fd, buffer.bytes.data() + size, buffer.bytes.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw UsageError("cannot read " + where + ": " + std::strerror(errno));
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  const std::string_view text = strip_newline(std::string_view(buffer.bytes.data(), size));
  if (text.empty()) throw UsageError(where + " is empty");
  if (text.size() > kMaxCredential) throw UsageError(where + " holds more than 1024 bytes");
  for (const char c : text) {
    if (c < 0x21 || c > 0x7e) throw UsageError(where + " holds a character a bearer credential can't (one line of visible ASCII)");
  }
  return Credential(text);
}

Credential::~Credential() { OPENSSL_cleanse(value_.data(), value_.size()); }

}  // namespace escrowless::keyclient
