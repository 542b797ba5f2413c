#include "witness/witness_config.h"

#include <sstream>

namespace escrowless::witness {
namespace {

std::string quoted(const std::string& value) {
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

void add_witness_config_options(CLI::App& app, WitnessConfig& c) {
  app.add_option("--name", c.name, "The witness's name in its cosignatures, e.g. witness.example.org/w1")->required();
  app.add_option("--listen", c.listen, "Address to listen on")->capture_default_str();
  app.add_option("--port", c.port, "HTTPS port")->check(CLI::Range(0, 65535))->capture_default_str();
  app.add_option("--token", c.token, "PKCS#11 URI of the token holding the witness key, with pin-source")->required();
  app.add_option("--softhsm-conf", c.softhsm_conf, "SoftHSM configuration file (sets SOFTHSM2_CONF)");
  app.add_option("--module-init-args", c.module_init_args, "C_Initialize parameters for modules that need them");
  app.add_option("--key-label", c.key_label, "Label of the witness key in the token")->capture_default_str();
  app.add_option("--tls-cert", c.tls_cert, "PEM certificate chain")->required();
  app.add_option("--tls-key", c.tls_key, "PEM private key")->required();
  app.add_option("--state", c.state, "The witness's SQLite state file")->required();
  app.add_option("--log", c.logs, "A witnessed log: \"<origin> <verifier key>\" (repeat for more logs or keys)");
  app.add_option("--log-format", c.log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--threads", c.threads, "HTTP worker threads")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--request-timeout", c.request_timeout, "Seconds a client has to deliver a whole request")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  app.add_option("--keep-alive-timeout", c.keep_alive_timeout, "Seconds an idle keep-alive connection stays open")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--max-connections-per-address", c.max_connections_per_address,
                 "TLS connections one client address may hold open (0: no limit)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
}

std::string to_config_text(const WitnessConfig& c) {
  std::ostringstream out;
  out << "# keywitness configuration, written by keywitness init. No secrets: the token PIN is read\n"
         "# from the token URI's pin-source. Add one `log = \"<origin> <verifier key>\"` line per log.\n";
  out << "name = " << quoted(c.name) << "\n";
  out << "listen = " << quoted(c.listen) << "\n";
  out << "port = " << c.port << "\n";
  out << "token = " << quoted(c.token) << "\n";
  if (!c.softhsm_conf.empty()) out << "softhsm-conf = " << quoted(c.softhsm_conf) << "\n";
  if (!c.module_init_args.empty()) out << "module-init-args = " << quoted(c.module_init_args) << "\n";
  out << "key-label = " << quoted(c.key_label) << "\n";
  out << "tls-cert = " << quoted(c.tls_cert) << "\n";
  out << "tls-key = " << quoted(c.tls_key) << "\n";
  out << "state = " << quoted(c.state) << "\n";
  for (const std::string& log : c.logs) out << "log = " << quoted(log) << "\n";
  out << "log-format = " << quoted(c.log_format) << "\n";
  out << "log-level = " << quoted(c.log_level) << "\n";
  out << "threads = " << c.threads << "\n";
  out << "request-timeout = " << c.request_timeout << "\n";
  out << "keep-alive-timeout = " << c.keep_alive_timeout << "\n";
  out << "max-connections-per-address = " << c.max_connections_per_address << "\n";
  return out.str();
}

}  // namespace escrowless::witness
