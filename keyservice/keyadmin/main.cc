// keyadmin: provisioning and inspection of the Escrowless HSM token.
//
// Exit codes: 0 success, 1 the operation failed (token, PIN, file, input), 2 usage error.
// `token check` has its own: 0 the token can carry the no-escrow claim, 1 it cannot, 2 usage or
// the token could not be used.
#include <exception>
#include <iostream>

#include "audit/command_line.h"
#include "audit/error.h"
#include "keyservice/error.h"
#include "keyservice/keyadmin/commands.h"
#include "pkcs11/error.h"
#include "pkcs11/object_lock.h"

namespace escrowless::keyadmin {

std::string& module_init_args() {
  static std::string value;
  return value;
}

std::string& token_lock_file() {
  static std::string value;
  return value;
}

pkcs11::TokenOptions token_options(bool login) {
  static const bool locked = [] {
    if (!token_lock_file().empty()) pkcs11::share_token_objects_lock(token_lock_file());
    return true;
  }();
  (void)locked;
  pkcs11::TokenOptions options;
  options.login = login;
  if (!module_init_args().empty()) options.module_init_args = module_init_args();
  return options;
}

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace escrowless::keyadmin

int main(int argc, char** argv) {
  CLI::App app{"keyadmin: provision and inspect the Escrowless HSM token"};
  app.require_subcommand(1);
  app.fallthrough();  // --module-init-args may follow the subcommand
  app.add_option("--module-init-args", escrowless::keyadmin::module_init_args(),
                 "C_Initialize parameters for PKCS#11 modules that need them (NSS softokn: "
                 "\"configdir='sql:DIR' certPrefix='' keyPrefix='' secmod='secmod.db'\"; see "
                 "hsm-config/)");
  app.add_option("--token-lock-file", escrowless::keyadmin::token_lock_file(),
                 "The token lock file of the keyserviced processes sharing this token (their "
                 "keyservice.conf's token-lock-file), so that keyadmin's changes wait for theirs");
  escrowless::keyadmin::add_init_command(app);
  escrowless::keyadmin::add_token_commands(app);
  escrowless::keyadmin::add_key_commands(app);
  escrowless::keyadmin::add_log_commands(app);
  escrowless::keyadmin::add_migrate_command(app);
  // The subcommands run inside the parse.
  try {
    if (const auto exit_code = escrowless::audit::parse_command_line(app, argc, argv)) return *exit_code;
  } catch (const escrowless::keyadmin::ExitStatus& status) {
    return status.code;
  } catch (const escrowless::pkcs11::Error& e) {
    std::cerr << "keyadmin: " << e.what() << "\n";
    return 1;
  } catch (const escrowless::keyservice::Error& e) {
    std::cerr << "keyadmin: " << e.what() << "\n";
    return 1;
  } catch (const escrowless::audit::Error& e) {
    std::cerr << "keyadmin: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "keyadmin: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
