#include "pkcs11/softhsm.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "pkcs11/error.h"
#include "pkcs11/module.h"
#include "pkcs11/secret.h"
#include "pkcs11/softhsm_conf_template.h"

namespace escrowless::pkcs11 {
namespace fs = std::filesystem;

namespace {

void make_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::invalid_input, "cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) throw Error(ErrorKind::invalid_input, "cannot set mode 0700 on " + dir.string());
}

// Creates `path` with mode 0600 (never widened by the umask, never replacing a file) and writes it.
void write_private_file(const fs::path& path, std::span<const std::uint8_t> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    throw Error(ErrorKind::invalid_input, errno == EEXIST
                                              ? path.string() + " already exists: not overwriting it"
                                              : "cannot create " + path.string() + ": " +
                                                    std::strerror(errno));
  }
  const ssize_t written = ::write(fd, bytes.data(), bytes.size());
  const bool ok = written == static_cast<ssize_t>(bytes.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw Error(ErrorKind::internal, "cannot write " + path.string());
}

}  // namespace

fs::path write_softhsm_conf(const fs::path& dir) {
  make_private_dir(dir);
  const fs::path token_dir = fs::absolute(dir) / "tokens";
  make_private_dir(token_dir);

  std::string text = kSoftHsmConfTemplate;
  const std::string placeholder = "@TOKEN_DIR@";
  const std::size_t at = text.find(placeholder);
  if (at == std::string::npos) throw Error(ErrorKind::internal, "softhsm2.conf template has no @TOKEN_DIR@");
  text.replace(at, placeholder.size(), token_dir.string());

  const fs::path conf = fs::absolute(dir) / "softhsm2.conf";
  write_private_file(conf, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  return conf;
}

SoftHsmToken provision_softhsm_token(const fs::path& dir, std::string_view label,
                                     const std::string& module_path) {
  const fs::path base = fs::absolute(dir);
  SoftHsmToken made{base / "softhsm2.conf", base / "so-pin", base / "user-pin", {}, {}};
  for (const fs::path& path : {made.conf, made.so_pin, made.user_pin, base / "tokens"}) {
    if (fs::exists(path)) {
      throw Error(ErrorKind::invalid_input, path.string() + " already exists: not overwriting it");
    }
  }
  try {
    write_softhsm_conf(base);
    ::setenv("SOFTHSM2_CONF", made.conf.c_str(), 1);
    const auto module = Module::load(module_path);
    const Secret so_pin = random_hex_secret(16);
    const Secret user_pin = random_hex_secret(16);
    made.info = init_token(*module, label, so_pin, user_pin);
    write_private_file(made.so_pin, so_pin.bytes());
    write_private_file(made.user_pin, user_pin.bytes());
  } catch (...) {
    std::error_code ignored;
    for (const fs::path& path : {made.conf, made.so_pin, made.user_pin}) fs::remove(path, ignored);
    fs::remove_all(base / "tokens", ignored);
    throw;
  }
  made.uri.token = made.info.label;
  made.uri.serial = made.info.serial;
  made.uri.module_path = fs::canonical(module_path).string();
  made.uri.pin_source = "file:" + made.user_pin.string();
  return made;
}

}  // namespace escrowless::pkcs11
