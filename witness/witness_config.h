// keywitness's configuration, in the format of keyserviced's (CLI11 `name = value` lines; see
// keyservice/service_config.h). `keywitness init` writes it. No secret is in it: the token PIN
// stays in the file the URI's pin-source names.
//
//   name = "witness.example.org/w1"                    the witness's key name in cosignatures
//   log = "keys.example.org/log keys.example.org/log+1a2b3c4d+AQ..."   one line per log key
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace escrowless::witness {

struct WitnessConfig {
  std::string name;                       // key name of the cosignatures (a C2SP note key name)
  std::string listen = "127.0.0.1";
  int port = 8444;
  std::string token;                      // PKCS#11 URI with module-path and pin-source
  std::string softhsm_conf;               // exported as SOFTHSM2_CONF before the module loads
  std::string module_init_args;           // C_Initialize's pReserved for modules that need it
  std::string key_label = "keywitness";   // CKA_LABEL of the witness key in the token
  std::string tls_cert;                   // PEM certificate chain
  std::string tls_key;                    // PEM private key (mode 0600)
  std::string state;                      // the SQLite state file (keywitness init makes it)
  std::vector<std::string> logs;          // "<origin> <log verifier key>", repeatable
  std::string log_format = "text";        // text | json
  std::string log_level = "info";
  int threads = 4;
  int request_timeout = 10;
  int keep_alive_timeout = 5;
  int max_connections_per_address = 32;
};

// Adds every setting as a --option (its name in the config file without the dashes).
void add_witness_config_options(CLI::App& app, WitnessConfig& config);

// The config file text for `config`.
std::string to_config_text(const WitnessConfig& config);

}  // namespace escrowless::witness
