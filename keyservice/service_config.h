// keyserviced's configuration: one struct, one list of option names. keyserviced reads it from
// a file in CLI11's config format (`name = value` lines) or the command line; `keyadmin init`
// writes it with to_config_text(). No secret is ever in it: the admin credential appears only
// as its SHA-256, and the token PIN stays in the file the URI's pin-source names.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace escrowless::keyservice {

struct ServiceConfig {
  std::string data_dir;           // holds log.db and devices.db (storage = sqlite), TLS files
  // Where the log and the device store live: "sqlite" (files in data_dir) or "postgresql" (the
  // database postgresql_url names, shared by every node). The URL (libpq conninfo or
  // postgresql:// URL) never holds the password: libpq reads it from a 0600 passfile (PGPASSFILE
  // or passfile=) or PGPASSWORD; one with a password is refused. TLS: sslmode=verify-full and
  // sslrootcert=... in the URL.
  std::string storage = "sqlite";
  std::string postgresql_url;
  std::string listen = "127.0.0.1";
  int port = 8443;
  std::string token;              // PKCS#11 URI with module-path and pin-source
  std::string softhsm_conf;       // when set, exported as SOFTHSM2_CONF before the module loads
  std::string module_init_args;   // C_Initialize's pReserved for modules that need it (hsm-config/)
  // Orders token object changes between the processes on this machine that share the token
  // (several nodes, keyadmin beside them): pkcs11/object_lock.h. Empty: this process alone.
  std::string token_lock_file;
  std::string tls_cert;           // PEM certificate chain
  std::string tls_key;            // PEM private key (mode 0600)
  std::string admin_credential_sha256;  // hex SHA-256 of the admin bearer credential
  bool anonymous_fetch = false;   // allow bundle fetches without a credential
  int inventory_interval = 86400; // seconds between automatic hsm.inventory entries; 0: never
  std::string log_format = "text";  // text | json
  std::string log_level = "info";   // trace | debug | info | warn | error
  int threads = 8;                // HTTP worker threads: at least the keep-alive connections expected
  std::size_t max_body_bytes = 1 << 20;
  // Slow clients and connection hogs (see docs/operations.md).
  int request_timeout = 10;             // seconds for a whole request to arrive
  int keep_alive_timeout = 5;           // seconds an idle keep-alive connection stays open
  int keep_alive_max_requests = 1000;   // requests per connection
  int max_connections_per_address = 32; // 0: no limit
  // Request rates (per second) and bursts; 0 turns a limit off.
  double enroll_rate_per_credential = 10;
  double enroll_rate_per_address = 20;
  double enroll_burst = 50;
  double fetch_rate_per_credential = 50;
  double fetch_rate_per_address = 200;
  double fetch_burst = 200;
  // Witness cosigning (keyservice/cosign/, docs/operations.md). No policy file: off, and clients
  // are served the newest signed checkpoint.
  std::string witness_policy;           // Sigsum/Tessera policy file: witness, group, quorum lines
  std::string witness_ca_file;          // PEM bundle trusted for the witnesses' HTTPS; empty: the system's
  int witness_heartbeat = 60;           // seconds: the current checkpoint is re-submitted this often
  int witness_timeout = 5;              // seconds one witness request may take
  int witness_bundle_wait_ms = 2000;    // how long a bundle naming a new entry waits for its cosigned checkpoint
};

// Adds every setting as a --option (its name in the config file without the dashes).
void add_config_options(CLI::App& app, ServiceConfig& config);

// A value quoted for the config file ("..." with \" and \\ escaped).
std::string config_quoted(const std::string& value);

// The config file text for `config` (every setting, with a comment line naming its meaning).
std::string to_config_text(const ServiceConfig& config);

}  // namespace escrowless::keyservice
