// keyadmin: provisioning and inspection of the Escrowless HSM token.
//
// Exit codes: 0 success, 1 the operation failed (token, PIN, file, input), 2 usage error.
#include <exception>
#include <iostream>

#include "audit/error.h"
#include "keyservice/error.h"
#include "keyservice/keyadmin/commands.h"
#include "pkcs11/error.h"

namespace escrowless::keyadmin {

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace escrowless::keyadmin

int main(int argc, char** argv) {
  CLI::App app{"keyadmin: provision and inspect the Escrowless HSM token"};
  app.require_subcommand(1);
  escrowless::keyadmin::add_init_command(app);
  escrowless::keyadmin::add_token_commands(app);
  escrowless::keyadmin::add_key_commands(app);
  escrowless::keyadmin::add_log_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
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
