#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "keyservice/keyadmin/commands.h"
#include "keyservice/provision.h"

namespace escrowless::keyadmin {

void add_init_command(CLI::App& app) {
  auto options = std::make_shared<keyservice::ProvisionOptions>();
  auto token = std::make_shared<std::string>();
  CLI::App* init = app.add_subcommand(
      "init", "Provision everything keyserviced needs in DIR: token, log, TLS, admin credential, config");
  init->add_option("--data-dir", options->data_dir, "The service's data folder")->required();
  init->add_option("--token", *token, "PKCS#11 URI of an existing token (default: a new SoftHSM token in DIR/softhsm)");
  init->add_option("--origin", options->origin, "The log's origin line")->capture_default_str();
  init->add_option("--listen", options->listen, "Address keyserviced listens on")->capture_default_str();
  init->add_option("--port", options->port, "HTTPS port")->check(CLI::Range(0, 65535))->capture_default_str();
  auto postgresql = std::make_shared<std::string>();
  init->add_option("--postgresql", *postgresql,
                   "Make the log and the device store in this PostgreSQL database (libpq conninfo or postgresql:// "
                   "URL, no password: use PGPASSFILE or PGPASSWORD) instead of SQLite files in DIR");
  init->callback([options, token, postgresql] {
    if (!token->empty()) options->token_uri = *token;
    if (!postgresql->empty()) options->postgresql_url = *postgresql;
    if (!module_init_args().empty()) options->module_init_args = module_init_args();
    const keyservice::Provisioned made = keyservice::provision(*options);
    print_json({
        {"config", made.config_path},
        {"admin_token_file", made.admin_token_path},
        {"url", "https://" + made.config.listen + ":" + std::to_string(made.config.port)},
        {"tls_certificate", made.config.tls_cert},
        {"verifier_key", made.verifier_key},
        {"checkpoint", made.checkpoint},
    });
  });
}

}  // namespace escrowless::keyadmin
