// `keyadmin init`: everything keyserviced needs, under one data folder.
//
//   DIR/softhsm/        a SoftHSM token of its own (when no token URI is given), PINs 0600
//   DIR/log.db          the transparency log, its key in the token, first checkpoint signed
//   DIR/tls/            a self-signed certificate for localhost and its key (0600)
//   DIR/admin-token     the admin bearer credential (0600); the config holds only its hash
//   DIR/keyservice.conf the configuration keyserviced reads, written last
//
// With a PostgreSQL URL the log and the device store are made in that database instead
// (storage = postgresql in the config; the password stays in libpq's passfile or environment).
#pragma once

#include <optional>
#include <string>

#include "keyservice/service_config.h"

namespace escrowless::keyservice {

struct ProvisionOptions {
  std::string data_dir;
  std::optional<std::string> token_uri;  // none: make a SoftHSM token in DIR/softhsm
  std::optional<std::string> module_init_args;  // C_Initialize parameters for token_uri's module
  std::string origin = "localhost/escrowless";
  std::string listen = "127.0.0.1";
  int port = 8443;
  std::string softhsm_module = "/usr/lib/softhsm/libsofthsm2.so";
  std::optional<std::string> postgresql_url;  // none: SQLite files in DIR
};

struct Provisioned {
  std::string config_path;
  std::string admin_token_path;
  std::string verifier_key;
  std::string checkpoint;
  ServiceConfig config;
};

// Refuses (Error(conflict)) when DIR already holds any of the files above, or the PostgreSQL
// database a log; Error(invalid_input) for a PostgreSQL URL with a password.
Provisioned provision(const ProvisionOptions& options);

}  // namespace escrowless::keyservice
