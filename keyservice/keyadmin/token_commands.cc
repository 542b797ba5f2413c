#include <iostream>
#include <memory>
#include <string>

#include "keyservice/keyadmin/commands.h"
#include "keyservice/keyadmin/token_check.h"
#include "keyservice/token_json.h"
#include "pkcs11/softhsm.h"
#include "pkcs11/token.h"

namespace escrowless::keyadmin {
namespace {

struct TokenOptions {
  std::string softhsm_dir;
  std::string label;
  std::string module = pkcs11::kDefaultModulePath;
  std::string uri;
  double seconds = 3;
  bool json = false;
};

std::unique_ptr<pkcs11::Token> open_public(const std::string& uri) {
  // token info and mechanisms need no PIN
  return pkcs11::Token::open(pkcs11::Uri::parse(uri), token_options(false));
}

void init(const TokenOptions& o) {
  const pkcs11::SoftHsmToken made = pkcs11::provision_softhsm_token(o.softhsm_dir, o.label, o.module);
  std::cout << made.uri.to_string() << "\n";
  std::cerr << "keyadmin: token '" << made.info.label << "' (serial " << made.info.serial
            << ") initialized; PINs saved to " << made.so_pin.string() << " and "
            << made.user_pin.string() << " (mode 0600)\n"
            << "keyadmin: SoftHSM finds this token only with: export SOFTHSM2_CONF="
            << made.conf.string() << "\n";
}

void info(const TokenOptions& o) {
  const auto token = open_public(o.uri);
  nlohmann::json out = keyservice::token_json(token->info(), token->module().info());
  print_json(out);
}

void mechanisms(const TokenOptions& o) {
  const auto token = open_public(o.uri);
  print_json(keyservice::mechanisms_json(token->mechanisms()));
}

// Exit 0: the token can carry the no-escrow claim; 1: it cannot (the reasons are printed);
// 2: the token could not be opened or used (URI, module, PIN, token gone), as for usage errors.
void check(const TokenOptions& o) {
  std::unique_ptr<pkcs11::Token> token;
  TokenCheck result;
  try {
    token = pkcs11::Token::open(pkcs11::Uri::parse(o.uri), token_options(true));
    result = run_token_check(*token, o.seconds);
  } catch (const pkcs11::Error& e) {
    std::cerr << "keyadmin: token check: " << e.what() << "\n";
    throw ExitStatus{2};
  }
  if (o.json) {
    print_json(token_check_json(result));
  } else {
    print_token_check(std::cout, result);
  }
  if (!result.carries_claim()) throw ExitStatus{1};
}

}  // namespace

void add_token_commands(CLI::App& app) {
  auto options = std::make_shared<TokenOptions>();
  CLI::App* token = app.add_subcommand("token", "Create and inspect tokens");
  token->require_subcommand(1);

  CLI::App* init_cmd = token->add_subcommand(
      "init", "Create a SoftHSM token of its own in DIR (config, token folder, PIN files)");
  init_cmd->add_option("--softhsm-dir", options->softhsm_dir, "Folder for softhsm2.conf, tokens/ and the PIN files")
      ->required();
  init_cmd->add_option("--label", options->label, "Token label (1 to 32 bytes)")->required();
  init_cmd->add_option("--module", options->module, "SoftHSM module path")->capture_default_str();
  init_cmd->callback([options] { init(*options); });

  CLI::App* info_cmd = token->add_subcommand("info", "Print the token's information as JSON");
  info_cmd->add_option("--token", options->uri, "PKCS#11 URI of the token")->required();
  info_cmd->callback([options] { info(*options); });

  CLI::App* mech_cmd = token->add_subcommand("mechanisms", "Print the token's mechanisms as JSON");
  mech_cmd->add_option("--token", options->uri, "PKCS#11 URI of the token")->required();
  mech_cmd->callback([options] { mechanisms(*options); });

  CLI::App* check_cmd = token->add_subcommand(
      "check",
      "Preflight a token: make a throwaway key pair with our template, report what the token made "
      "of it, sign and verify, measure, destroy it. Exit 0: the token can carry the no-escrow "
      "claim; 1: it cannot (why is printed); 2: the token could not be used");
  check_cmd->add_option("--token", options->uri, "PKCS#11 URI of the token, with pin-source")->required();
  check_cmd->add_option("--seconds", options->seconds, "How long to measure signing, per key")
      ->check(CLI::Range(0.01, 600.0))
      ->capture_default_str();
  check_cmd->add_flag("--json", options->json, "Print the result as JSON");
  check_cmd->callback([options] { check(*options); });
}

}  // namespace escrowless::keyadmin
