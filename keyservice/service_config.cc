#include "keyservice/service_config.h"

#include <sstream>

namespace escrowless::keyservice {

std::string config_quoted(const std::string& value) {
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}


void add_config_options(CLI::App& app, ServiceConfig& c) {
  app.add_option("--data-dir", c.data_dir, "Folder holding log.db and devices.db")->required();
  app.add_option("--storage", c.storage, "Where the log and devices live: sqlite (files in the data folder) or postgresql")
      ->check(CLI::IsMember({"sqlite", "postgresql"}))
      ->capture_default_str();
  app.add_option("--postgresql-url", c.postgresql_url,
                 "libpq connection string or postgresql:// URL for storage = postgresql; never with a password "
                 "(use a 0600 PGPASSFILE or PGPASSWORD); TLS with sslmode=verify-full sslrootcert=FILE");
  app.add_option("--listen", c.listen, "Address to listen on")->capture_default_str();
  app.add_option("--port", c.port, "HTTPS port")->check(CLI::Range(0, 65535))->capture_default_str();
  app.add_option("--token", c.token, "PKCS#11 URI of the token, with pin-source")->required();
  app.add_option("--softhsm-conf", c.softhsm_conf, "SoftHSM configuration file (sets SOFTHSM2_CONF)");
  app.add_option("--module-init-args", c.module_init_args,
                 "C_Initialize parameters for PKCS#11 modules that need them (NSS softokn); not secret");
  app.add_option("--token-lock-file", c.token_lock_file,
                 "Lock file that every process sharing the token on this machine names (several nodes)");
  app.add_option("--tls-cert", c.tls_cert, "PEM certificate chain")->required();
  app.add_option("--tls-key", c.tls_key, "PEM private key")->required();
  app.add_option("--admin-credential-sha256", c.admin_credential_sha256,
                 "Hex SHA-256 of the admin bearer credential")
      ->required();
  app.add_option("--anonymous-fetch", c.anonymous_fetch, "Allow bundle fetches without a credential")
      ->capture_default_str();
  app.add_option("--inventory-interval", c.inventory_interval,
                 "Seconds between automatic token inventories (0: never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--log-format", c.log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--threads", c.threads, "HTTP worker threads")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--max-body-bytes", c.max_body_bytes, "Largest request body accepted")
      ->check(CLI::Range(1024, 64 << 20))
      ->capture_default_str();
  app.add_option("--request-timeout", c.request_timeout,
                 "Seconds a client has to deliver a whole request (0: no deadline)")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  app.add_option("--keep-alive-timeout", c.keep_alive_timeout, "Seconds an idle keep-alive connection stays open")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--keep-alive-max-requests", c.keep_alive_max_requests, "Requests per connection")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--max-connections-per-address", c.max_connections_per_address,
                 "TLS connections one client address may hold open (0: no limit)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  const auto rate = [&app](const std::string& name, double& value, const std::string& help) {
    app.add_option(name, value, help)->check(CLI::Range(0.0, 1e9))->capture_default_str();
  };
  rate("--enroll-rate-per-credential", c.enroll_rate_per_credential, "Enrollments per second per credential (0: no limit)");
  rate("--enroll-rate-per-address", c.enroll_rate_per_address, "Enrollments per second per client address (0: no limit)");
  rate("--enroll-burst", c.enroll_burst, "Enrollments allowed at once per credential or address");
  rate("--fetch-rate-per-credential", c.fetch_rate_per_credential, "Bundle fetches per second per credential (0: no limit)");
  rate("--fetch-rate-per-address", c.fetch_rate_per_address, "Bundle fetches per second per client address (0: no limit)");
  rate("--fetch-burst", c.fetch_burst, "Bundle fetches allowed at once per credential or address");
  app.add_option("--witness-policy", c.witness_policy,
                 "Witness policy file (witness/group/quorum lines): collect cosignatures and serve the newest "
                 "checkpoint that meets it; empty: no witnesses");
  app.add_option("--witness-ca-file", c.witness_ca_file,
                 "PEM certificates trusted for the witnesses' HTTPS (default: the system's store)");
  app.add_option("--witness-heartbeat", c.witness_heartbeat,
                 "Seconds between re-submissions of the current checkpoint to the witnesses when nothing is written")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--witness-timeout", c.witness_timeout, "Seconds one witness request may take")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
  app.add_option("--witness-bundle-wait-ms", c.witness_bundle_wait_ms,
                 "Milliseconds a bundle naming an entry newer than the cosigned checkpoint waits for one that covers it")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
}

std::string to_config_text(const ServiceConfig& c) {
  std::ostringstream out;
  out << "# keyserviced configuration, written by keyadmin init. No secrets: the token PIN is read\n"
         "# from the token URI's pin-source, and the admin credential is here only as a hash.\n";
  out << "data-dir = " << config_quoted(c.data_dir) << "\n";
  out << "storage = " << config_quoted(c.storage) << "\n";
  if (!c.postgresql_url.empty()) out << "postgresql-url = " << config_quoted(c.postgresql_url) << "\n";
  out << "listen = " << config_quoted(c.listen) << "\n";
  out << "port = " << c.port << "\n";
  out << "token = " << config_quoted(c.token) << "\n";
  if (!c.softhsm_conf.empty()) out << "softhsm-conf = " << config_quoted(c.softhsm_conf) << "\n";
  if (!c.module_init_args.empty()) out << "module-init-args = " << config_quoted(c.module_init_args) << "\n";
  if (!c.token_lock_file.empty()) out << "token-lock-file = " << config_quoted(c.token_lock_file) << "\n";
  out << "tls-cert = " << config_quoted(c.tls_cert) << "\n";
  out << "tls-key = " << config_quoted(c.tls_key) << "\n";
  out << "admin-credential-sha256 = " << config_quoted(c.admin_credential_sha256) << "\n";
  out << "anonymous-fetch = " << (c.anonymous_fetch ? "true" : "false") << "\n";
  out << "inventory-interval = " << c.inventory_interval << "\n";
  out << "log-format = " << config_quoted(c.log_format) << "\n";
  out << "log-level = " << config_quoted(c.log_level) << "\n";
  out << "threads = " << c.threads << "\n";
  out << "max-body-bytes = " << c.max_body_bytes << "\n";
  out << "request-timeout = " << c.request_timeout << "\n";
  out << "keep-alive-timeout = " << c.keep_alive_timeout << "\n";
  out << "keep-alive-max-requests = " << c.keep_alive_max_requests << "\n";
  out << "max-connections-per-address = " << c.max_connections_per_address << "\n";
  out << "enroll-rate-per-credential = " << c.enroll_rate_per_credential << "\n";
  out << "enroll-rate-per-address = " << c.enroll_rate_per_address << "\n";
  out << "enroll-burst = " << c.enroll_burst << "\n";
  out << "fetch-rate-per-credential = " << c.fetch_rate_per_credential << "\n";
  out << "fetch-rate-per-address = " << c.fetch_rate_per_address << "\n";
  out << "fetch-burst = " << c.fetch_burst << "\n";
  if (!c.witness_policy.empty()) out << "witness-policy = " << quoted(c.witness_policy) << "\n";
  if (!c.witness_ca_file.empty()) out << "witness-ca-file = " << quoted(c.witness_ca_file) << "\n";
  out << "witness-heartbeat = " << c.witness_heartbeat << "\n";
  out << "witness-timeout = " << c.witness_timeout << "\n";
  out << "witness-bundle-wait-ms = " << c.witness_bundle_wait_ms << "\n";
  return out.str();
}

}  // namespace escrowless::keyservice
