// test_token_env KIND DIR: makes a test token of KIND (softhsm, tpm2, nss) in the empty folder
// DIR with the harness's own makers (token_backends.h), for the shell tests that run our binaries
// on every token kind. Writes DIR/token.env (shell: the environment the module needs, exported,
// and TOKEN_KIND, TOKEN_URI, TOKEN_MODULE_INIT_ARGS, TOKEN_ALGORITHM), prints "ready" on stdout,
// then keeps the token's helper processes (swtpm, D-Bus, abrmd) running until its stdin closes.
// Used as a bash coprocess: the test ends, its end of the pipe closes, this stops them; if this
// dies, the parent-death signal stops them anyway.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "pkcs11/token.h"
#include "tests/support/token_backends.h"

namespace {

using namespace escrowless;

std::string shell_quote(const std::string& value) {
  std::string quoted = "'";
  for (const char c : value) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

int run(const std::string& kind, const std::filesystem::path& dir) {
  testing::MadeToken made;
  constexpr std::string_view kLabel = "escrowless-test";
  if (kind == "softhsm") {
    made = testing::make_softhsm_token(dir, kLabel);
  } else if (kind == "tpm2") {
    made = testing::make_tpm2_token(dir, kLabel);
  } else if (kind == "nss") {
    made = testing::make_nss_token(dir, kLabel);
  } else {
    std::cerr << "test_token_env: unknown token kind '" << kind << "'\n";
    return 2;
  }
  std::string algorithm;
  {
    pkcs11::TokenOptions options;
    options.login = false;
    options.module_init_args = made.module_init_args;
    const auto token = pkcs11::Token::open(made.uri, options);
    algorithm = std::string(pkcs11::to_string(pkcs11::choose_algorithm(token->mechanisms())));
  }  // C_Finalize: the tests' processes use the token on their own
  std::ofstream env(dir / "token.env");
  for (const char* name : {"SOFTHSM2_CONF", "TPM2_PKCS11_TCTI", "TPM2_PKCS11_STORE",
                           "DBUS_SESSION_BUS_ADDRESS"}) {
    if (const char* value = std::getenv(name)) env << "export " << name << "=" << shell_quote(value) << "\n";
  }
  env << "TOKEN_KIND=" << kind << "\n"
      << "TOKEN_URI=" << shell_quote(made.uri.to_string()) << "\n"
      << "TOKEN_MODULE_INIT_ARGS=" << shell_quote(made.module_init_args.value_or("")) << "\n"
      << "TOKEN_ALGORITHM=" << algorithm << "\n";
  env.close();
  if (!env) throw std::runtime_error("cannot write " + (dir / "token.env").string());
  std::cout << "ready" << std::endl;
  char buffer[256];
  while (::read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
  }
  for (auto it = made.processes.rbegin(); it != made.processes.rend(); ++it) (*it)->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: test_token_env softhsm|tpm2|nss DIR\n";
    return 2;
  }
  try {
    return run(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::cerr << "test_token_env: " << e.what() << "\n";
    return 1;
  }
}
