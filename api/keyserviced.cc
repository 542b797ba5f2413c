// keyserviced: the Escrowless key service over HTTPS.
//
//   keyserviced --config DATA_DIR/keyservice.conf     (written by keyadmin init)
//
// Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT: stops accepting, finishes in-flight
// writes), 1 when it cannot start (token, PIN, log, TLS: the message says which), 2 usage.
#include <signal.h>

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "api/routes.h"
#include "api/logging.h"
#include "api/periodic_task.h"
#include "api/service.h"
#include "audit/command_line.h"
#include "audit/encoding.h"
#include "audit/witness_quorum.h"
#include "keyservice/log/log_init.h"
#include "keyservice/reconciler.h"
#include "keyservice/storage.h"
#include "pkcs11/object_lock.h"

namespace {

using namespace escrowless;

audit::Hash parse_admin_hash(const std::string& hex) {
  const std::vector<std::uint8_t> bytes = audit::hex_decode(hex);
  if (bytes.size() != audit::kHashSize) {
    throw std::invalid_argument("admin-credential-sha256 must be 64 hex digits");
  }
  return audit::hash_from_bytes(bytes);
}

// How often the store's reconciliation mark moves forward while serving (and what a failed write
// left behind is repaired): bounds what the next start-up has to read.
constexpr auto kReconcileEvery = std::chrono::seconds(60);

// Logs an inventory of the token (through Devices, so it never catches a key half way).
void log_inventory(keyservice::Devices& devices) {
  try {
    spdlog::info("inventory logged at index {}", devices.log_inventory().index);
  } catch (const std::exception& e) {
    spdlog::error("scheduled inventory failed: {}", e.what());
  }
}

// Run once a second: logs when the token goes away and when it is back, and while it is gone
// asks for readiness, which reconnects as soon as the token returns, even with no traffic.
class TokenWatch {
 public:
  explicit TokenWatch(pkcs11::SessionPool& pool) : pool_(pool) {}
  void operator()() {
    if (pool_.stats().token_lost) {
      if (!lost_) spdlog::error("the token is gone; answering 503 to requests that need it until it is back");
      lost_ = true;
      try {
        pool_.check_ready();
      } catch (const std::exception& e) {
        spdlog::debug("token still unavailable: {}", e.what());
      }
    }
    if (lost_ && !pool_.stats().token_lost) {
      spdlog::info("the token is back: sessions re-opened and logged in");
      lost_ = false;
    }
  }

 private:
  pkcs11::SessionPool& pool_;
  bool lost_ = false;
};

// Opens the token, turning the usual start-up faults into one line that names the cause.
std::unique_ptr<pkcs11::Token> open_token(const keyservice::ServiceConfig& config) {
  if (!config.softhsm_conf.empty()) {
    // SoftHSM only says CKR_GENERAL_ERROR when its configuration file is missing.
    if (!std::filesystem::exists(config.softhsm_conf)) {
      throw std::runtime_error("softhsm-conf " + config.softhsm_conf + " does not exist");
    }
    ::setenv("SOFTHSM2_CONF", config.softhsm_conf.c_str(), 1);
  }
  const pkcs11::Uri uri = pkcs11::Uri::parse(config.token);
  if (!config.token_lock_file.empty()) pkcs11::share_token_objects_lock(config.token_lock_file);
  try {
    pkcs11::TokenOptions options;
    if (!config.module_init_args.empty()) options.module_init_args = config.module_init_args;
    return pkcs11::Token::open(uri, options);
  } catch (const pkcs11::Error& e) {
    if (e.kind() == pkcs11::ErrorKind::authentication) {
      throw std::runtime_error("the token refused the user PIN read from " + uri.pin_source.value_or("?") +
                               " (" + e.what() + ")");
    }
    if (e.rv() == CKR_GENERAL_ERROR && !config.softhsm_conf.empty()) {
      // SoftHSM's answer when its token folder is missing or unreadable.
      throw std::runtime_error(std::string(e.what()) + ": check that the directories.tokendir named in " +
                               config.softhsm_conf + " exists and is readable");
    }
    throw;
  }
}

int serve(const keyservice::ServiceConfig& config) {
  const audit::Hash admin_hash = parse_admin_hash(config.admin_credential_sha256);
  const auto token = open_token(config);
  spdlog::info("token '{}' (serial {}) opened", token->info().label, token->info().serial);
  const keyservice::LogDatabase db = keyservice::log_database(config);
  // A log in PostgreSQL is shared: any number of nodes may serve it, one at a time sequencing
  // (keyservice/log/shared_log.h).
  keyservice::TransparencyLog::Options log_options;
  log_options.shared = db.kind == keyservice::LogDatabase::Kind::postgresql;
  auto log = keyservice::TransparencyLog::open(db, token->pool(), log_options);
  spdlog::info("log {} verified: {} entries, origin {}", db.name(), log->size(), log->origin());

  // Witnesses: collected off the write path, served once a checkpoint meets the policy.
  std::unique_ptr<keyservice::CosignatureCollector> cosigner;
  if (!config.witness_policy.empty()) {
    keyservice::CosignatureCollector::Options witness_options;
    witness_options.policy = audit::load_witness_policy(config.witness_policy);
    witness_options.heartbeat = std::chrono::seconds(config.witness_heartbeat);
    witness_options.timeout_seconds = config.witness_timeout;
    if (!config.witness_ca_file.empty()) witness_options.ca_file = config.witness_ca_file;
    witness_options.bundle_wait = std::chrono::milliseconds(config.witness_bundle_wait_ms);
    cosigner = keyservice::CosignatureCollector::start(*log, std::move(witness_options));
    spdlog::info("witness policy {}: {} witnesses, quorum {}", config.witness_policy,
                 cosigner->policy().witnesses.size(), cosigner->policy().quorum);
  }

  auto store = keyservice::open_device_store(config, true);
  keyservice::DeviceKeys device_keys(*token);
  keyservice::Devices devices(*token, *log, *store, device_keys);
  keyservice::PrekeyService prekeys(*token, *log, *store, device_keys);
  keyservice::Reconciler reconciler(*token, *log, *store, device_keys);
  const keyservice::ReconcileReport reconciled = reconciler.reconcile(true);
  spdlog::info("store and token agree with the log (entries {} to {} read, {} repairs)", reconciled.from,
               reconciled.to, reconciled.repairs());
  api::Metrics metrics;
  api::Service service{*log, *token, devices, prekeys, config, admin_hash, metrics, cosigner.get()};
  api::ServerOptions options{config.tls_cert, config.tls_key, config.threads, config.max_body_bytes};
  options.request_timeout = config.request_timeout;
  options.keep_alive_timeout = config.keep_alive_timeout;
  options.keep_alive_max_requests = config.keep_alive_max_requests;
  options.max_connections_per_address = config.max_connections_per_address;
  options.enroll_per_credential = {config.enroll_rate_per_credential, config.enroll_burst};
  options.enroll_per_address = {config.enroll_rate_per_address, config.enroll_burst};
  options.fetch_per_credential = {config.fetch_rate_per_credential, config.fetch_burst};
  options.fetch_per_address = {config.fetch_rate_per_address, config.fetch_burst};
  auto server = api::make_server(service, options);
  const int port = server->bind(config.listen, config.port);
  spdlog::info("listening on https://{}:{}", config.listen, port);
  std::thread http([&server] { server->run(); });
  std::optional<api::PeriodicTask> inventories;
  if (config.inventory_interval > 0) {
    inventories.emplace(std::chrono::seconds(config.inventory_interval), [&devices] { log_inventory(devices); });
  }
  std::optional<api::PeriodicTask> reconciliation(std::in_place, kReconcileEvery, [&reconciler] {
    try {
      reconciler.reconcile(false);
    } catch (const std::exception& e) {
      spdlog::error("reconciliation with the log failed: {}", e.what());
    }
  });
  api::PeriodicTask token_watch(std::chrono::seconds(1), TokenWatch(token->pool()));

  // SIGTERM and SIGINT are blocked in every thread (see main) and taken here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("signal {}: stopping; finishing in-flight requests and writes", received);
  server->stop();
  http.join();
  inventories.reset();
  reconciliation.reset();
  try {
    reconciler.reconcile(false);  // moves the mark to the end: the next start reads nothing
  } catch (const std::exception& e) {
    spdlog::warn("final reconciliation with the log failed (the next start repeats it): {}", e.what());
  }
  cosigner.reset();
  log->stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the shutdown signals before any thread starts, so every thread inherits the mask and
  // only sigwait() in serve() receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"keyserviced: the Escrowless key service over HTTPS"};
  keyservice::ServiceConfig config;
  app.set_config("--config", "", "Configuration file (keyadmin init writes DATA_DIR/keyservice.conf)");
  keyservice::add_config_options(app, config);
  if (const auto exit_code = audit::parse_command_line(app, argc, argv)) return *exit_code;
  api::setup_logging(config.log_format, config.log_level);
  try {
    return serve(config);
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
}
