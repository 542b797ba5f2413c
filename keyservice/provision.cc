#include "keyservice/provision.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "audit/encoding.h"
#include "keyservice/credentials.h"
#include "keyservice/error.h"
#include "keyservice/log/log_init.h"
#include "keyservice/storage.h"
#include "keyservice/tls_cert.h"
#include "pkcs11/softhsm.h"
#include "pkcs11/token.h"

namespace escrowless::keyservice {
namespace fs = std::filesystem;

namespace {

void write_new_file(const fs::path& path, std::string_view text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    throw Error(errno == EEXIST ? ErrorKind::conflict : ErrorKind::invalid_input,
                "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw Error(ErrorKind::internal, "cannot write " + path.string());
}

void make_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec) fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) throw Error(ErrorKind::invalid_input, "cannot create " + dir.string() + ": " + ec.message());
}

}  // namespace

Provisioned provision(const ProvisionOptions& options) {
  if (options.data_dir.empty()) throw Error(ErrorKind::invalid_input, "no data folder given");
  const fs::path dir = fs::absolute(options.data_dir);
  for (const char* name : {"keyservice.conf", kLogDatabaseName, "admin-token", "tls", "softhsm"}) {
    if (fs::exists(dir / name)) {
      throw Error(ErrorKind::conflict, (dir / name).string() +
                                           " already exists: this folder is provisioned (or half "
                                           "provisioned); not overwriting anything");
    }
  }
  ServiceConfig config;
  config.data_dir = dir.string();
  if (options.postgresql_url) {
    config.storage = "postgresql";
    config.postgresql_url = *options.postgresql_url;
  }
  const LogDatabase database = log_database(config);  // refuses a URL with a password, before anything is made
  make_private_dir(dir);
  config.listen = options.listen;
  config.port = options.port;
  if (options.token_uri) {
    config.token = *options.token_uri;
    config.module_init_args = options.module_init_args.value_or("");
    if (const char* conf = std::getenv("SOFTHSM2_CONF")) config.softhsm_conf = conf;
  } else {
    const pkcs11::SoftHsmToken made =
        pkcs11::provision_softhsm_token(dir / "softhsm", "escrowless", options.softhsm_module);
    config.token = made.uri.to_string();
    config.softhsm_conf = made.conf.string();
  }

  pkcs11::TokenOptions token_options;
  token_options.module_init_args = options.module_init_args;
  const auto token = pkcs11::Token::open(pkcs11::Uri::parse(config.token), token_options);
  const InitializedLog log = options.postgresql_url ? initialize_log(*token, database, options.origin)
                                                    : initialize_log(*token, dir.string(), options.origin);
  open_device_store(config, true);  // the device tables, so every node opens them as they are

  make_private_dir(dir / "tls");
  config.tls_cert = (dir / "tls" / "cert.pem").string();
  config.tls_key = (dir / "tls" / "key.pem").string();
  write_localhost_certificate(config.tls_cert, config.tls_key);

  const pkcs11::Secret admin = new_credential();
  const auto admin_text = std::string_view(reinterpret_cast<const char*>(admin.bytes().data()), admin.size());
  const fs::path admin_path = dir / "admin-token";
  write_new_file(admin_path, admin_text, 0600);
  config.admin_credential_sha256 = audit::hex_encode(credential_hash(admin.bytes()));

  const fs::path config_path = dir / "keyservice.conf";
  write_new_file(config_path, to_config_text(config), 0600);
  return {config_path.string(), admin_path.string(), log.verifier_key, log.checkpoint, config};
}

}  // namespace escrowless::keyservice
