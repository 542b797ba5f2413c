// keywitness: a C2SP tlog-witness anyone can run, its key in a PKCS#11 token.
//
//   keywitness init --data-dir DIR --token URI --name NAME [--log "ORIGIN VKEY"]...
//       makes the witness key in the token, DIR/witness.db, a localhost TLS certificate in
//       DIR/tls/ and DIR/keywitness.conf; prints the witness's vkey for policies
//   keywitness vkey --config FILE       prints the vkey again
//   keywitness serve --config FILE      serves HTTPS until SIGTERM or SIGINT
//
// Exit codes: 0 success (serve: a clean shutdown), 1 the operation failed (the message says
// why), 2 usage.
#include <signal.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "api/logging.h"
#include "audit/command_line.h"
#include "keyservice/tls_cert.h"
#include "pkcs11/token.h"
#include "witness/token_cosigner.h"
#include "witness/witness_config.h"
#include "witness/witness_routes.h"

namespace {

using namespace escrowless;
namespace fs = std::filesystem;

std::unique_ptr<pkcs11::Token> open_token(const std::string& uri_text, const std::string& softhsm_conf,
                                          const std::string& module_init_args) {
  if (!softhsm_conf.empty()) {
    // SoftHSM only says CKR_GENERAL_ERROR when its configuration file is missing.
    if (!fs::exists(softhsm_conf)) throw std::runtime_error("softhsm-conf " + softhsm_conf + " does not exist");
    ::setenv("SOFTHSM2_CONF", softhsm_conf.c_str(), 1);
  }
  const pkcs11::Uri uri = pkcs11::Uri::parse(uri_text);
  pkcs11::TokenOptions options;
  options.max_sessions = 4;
  if (!module_init_args.empty()) options.module_init_args = module_init_args;
  return pkcs11::Token::open(uri, options);
}

// Reads FILE as keyserviced reads its configuration.
witness::WitnessConfig read_config(const std::string& path) {
  if (!fs::exists(path)) throw std::runtime_error("config file " + path + " does not exist");
  CLI::App app{"keywitness configuration"};
  witness::WitnessConfig config;
  app.set_config("--config", path, "", true);
  witness::add_witness_config_options(app, config);
  try {
    app.parse(std::vector<std::string>{});
  } catch (const CLI::ParseError& e) {
    throw std::runtime_error("config file " + path + ": " + e.what());
  }
  return config;
}

uint64_t now_seconds() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

void init(witness::WitnessConfig config, const std::string& data_dir) {
  const fs::path dir = fs::absolute(data_dir);
  const fs::path config_path = dir / "keywitness.conf";
  config.state = (dir / "witness.db").string();
  if (fs::exists(config_path) || fs::exists(config.state)) {
    throw std::runtime_error(dir.string() + " already holds a witness (keywitness.conf or witness.db)");
  }
  witness::parse_witnessed_logs(config.logs);  // refuse a bad log line before making anything
  std::error_code ec;
  fs::create_directories(dir / "tls", ec);
  if (!ec) fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
  const auto token = open_token(config.token, config.softhsm_conf, config.module_init_args);
  const pkcs11::KeyPair key = witness::generate_witness_key(*token, config.key_label);
  const audit::CosignerKey cosigner = witness::cosigner_key_of(key, config.name);
  config.tls_cert = (dir / "tls" / "cert.pem").string();
  config.tls_key = (dir / "tls" / "key.pem").string();
  keyservice::write_localhost_certificate(config.tls_cert, config.tls_key);
  witness::WitnessState::open(config.state, true);
  std::ofstream(config_path) << witness::to_config_text(config);
  if (!fs::exists(config_path)) throw std::runtime_error("cannot write " + config_path.string());
  std::cout << nlohmann::json{{"config", config_path.string()},
                              {"vkey", cosigner.to_string()},
                              {"url", "https://" + config.listen + ":" + std::to_string(config.port)},
                              {"tls_certificate", config.tls_cert}}
                   .dump(2)
            << "\n";
}

void print_vkey(const std::string& config_path) {
  const witness::WitnessConfig config = read_config(config_path);
  const auto token = open_token(config.token, config.softhsm_conf, config.module_init_args);
  const pkcs11::KeyPair key = witness::find_witness_key(token->pool(), config.key_label);
  std::cout << witness::cosigner_key_of(key, config.name).to_string() << "\n";
}

int serve(const std::string& config_path) {
  const witness::WitnessConfig config = read_config(config_path);
  api::setup_logging(config.log_format, config.log_level);
  std::vector<witness::WitnessedLog> logs = witness::parse_witnessed_logs(config.logs);
  if (logs.empty()) throw std::runtime_error("no log configured: add log = \"<origin> <verifier key>\" lines");
  const auto state = witness::WitnessState::open(config.state, false);
  const auto token = open_token(config.token, config.softhsm_conf, config.module_init_args);
  pkcs11::KeyPair key = witness::find_witness_key(token->pool(), config.key_label);
  const audit::CosignerKey cosigner = witness::cosigner_key_of(key, config.name);
  witness::Witness witness(cosigner, witness::token_signer(token->pool(), std::move(key)), *state, std::move(logs),
                           now_seconds);
  api::Metrics metrics;
  api::ServerOptions options{config.tls_cert, config.tls_key, config.threads};
  options.request_timeout = config.request_timeout;
  options.keep_alive_timeout = config.keep_alive_timeout;
  options.max_connections_per_address = config.max_connections_per_address;
  auto server = witness::make_witness_server(witness, options, metrics);
  const int port = server->bind(config.listen, config.port);
  spdlog::info("witness {} for {} log(s), listening on https://{}:{}", cosigner.to_string(), witness.logs().size(),
               config.listen, port);
  std::thread http([&server] { server->run(); });
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("signal {}: stopping; finishing in-flight requests", received);
  server->stop();
  http.join();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Blocked before any thread starts, so only sigwait() in serve() receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"keywitness: a C2SP tlog-witness with its key in a PKCS#11 token"};
  app.require_subcommand(1);
  witness::WitnessConfig init_config;
  std::string data_dir, config_path;
  int exit_code = 0;
  CLI::App* init_command = app.add_subcommand("init", "Make the witness key, state file, TLS certificate and config");
  init_command->add_option("--data-dir", data_dir, "The witness's data folder")->required();
  init_command->add_option("--token", init_config.token, "PKCS#11 URI of the token, with pin-source")->required();
  init_command->add_option("--name", init_config.name, "The witness's name in cosignatures")->required();
  init_command->add_option("--log", init_config.logs, "A witnessed log: \"<origin> <verifier key>\" (repeatable)");
  init_command->add_option("--softhsm-conf", init_config.softhsm_conf, "SoftHSM configuration file");
  init_command->add_option("--module-init-args", init_config.module_init_args, "C_Initialize parameters");
  init_command->add_option("--key-label", init_config.key_label, "Label of the witness key")->capture_default_str();
  init_command->add_option("--listen", init_config.listen, "Address to listen on")->capture_default_str();
  init_command->add_option("--port", init_config.port, "HTTPS port")->check(CLI::Range(0, 65535))->capture_default_str();
  CLI::App* vkey_command = app.add_subcommand("vkey", "Print the witness's verifier key (for witness policies)");
  vkey_command->add_option("--config", config_path, "keywitness.conf")->required();
  CLI::App* serve_command = app.add_subcommand("serve", "Serve add-checkpoint over HTTPS");
  serve_command->add_option("--config", config_path, "keywitness.conf")->required();
  if (const auto code = audit::parse_command_line(app, argc, argv)) return *code;
  try {
    if (init_command->parsed()) {
      // As keyadmin init does: the SoftHSM configuration in use now is the one to record.
      if (init_config.softhsm_conf.empty() && std::getenv("SOFTHSM2_CONF")) init_config.softhsm_conf = std::getenv("SOFTHSM2_CONF");
      init(init_config, data_dir);
    }
    if (vkey_command->parsed()) print_vkey(config_path);
    if (serve_command->parsed()) exit_code = serve(config_path);
  } catch (const std::exception& e) {
    std::cerr << "keywitness: " << e.what() << "\n";
    return 1;
  }
  return exit_code;
}
