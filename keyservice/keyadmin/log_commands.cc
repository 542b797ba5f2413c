#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "keyservice/keyadmin/commands.h"
#include "keyservice/log/log_init.h"
#include "pkcs11/token.h"

namespace escrowless::keyadmin {
namespace {

struct LogOptions {
  std::string uri;
  std::string data_dir;
  std::string origin;
};

void init(const LogOptions& o) {
  const auto token = pkcs11::Token::open(pkcs11::Uri::parse(o.uri), token_options());
  const keyservice::InitializedLog log = keyservice::initialize_log(*token, o.data_dir, o.origin);
  const nlohmann::json out = {
      {"database", log.database},
      {"origin", log.origin},
      {"verifier_key", log.verifier_key},
      {"checkpoint", log.checkpoint},
  };
  print_json(out);
}

}  // namespace

void add_log_commands(CLI::App& app) {
  auto options = std::make_shared<LogOptions>();
  CLI::App* log = app.add_subcommand("log", "Create the transparency log and read its keys");
  log->require_subcommand(1);

  CLI::App* init_cmd = log->add_subcommand(
      "init", "Create the log key in the token, the log database in DIR, and the first checkpoint");
  init_cmd->add_option("--token", options->uri, "PKCS#11 URI of the token, with pin-source")->required();
  init_cmd->add_option("--data-dir", options->data_dir, "Folder for log.db")->required();
  init_cmd->add_option("--origin", options->origin,
                       "The log's origin line, e.g. keys.example.org/log (also the note key name)")
      ->required();
  init_cmd->callback([options] { init(*options); });

  CLI::App* key_cmd = log->add_subcommand("verifier-key", "Print the log's C2SP note verifier key");
  key_cmd->add_option("--data-dir", options->data_dir, "Folder holding log.db")->required();
  key_cmd->callback([options] { std::cout << keyservice::read_verifier_key(options->data_dir) << "\n"; });
}

}  // namespace escrowless::keyadmin
