#include "pkcs11/token.h"

#include "pkcs11/error.h"
#include "pkcs11/pin_source.h"

namespace escrowless::pkcs11 {

std::unique_ptr<Token> Token::open(const Uri& uri, const TokenOptions& options) {
  if (uri.module_name && !uri.module_path) {
    throw Error(ErrorKind::invalid_input,
                "PKCS#11 URI: 'module-name' is not supported; give the module's file as module-path");
  }
  std::optional<Secret> pin;
  if (options.login) {
    if (!uri.pin_source) {
      throw Error(ErrorKind::invalid_input,
                  "PKCS#11 URI: no pin-source; add ?pin-source=file:/path/to/user-pin");
    }
    pin = read_pin(*uri.pin_source);
  }
  std::shared_ptr<const Module> module = Module::load(
      uri.module_path.value_or(kDefaultModulePath), options.module_init_args);
  TokenInfo info = find_token(*module, uri);
  // After a reconnect the token is found again by what the URI says, like here.
  auto locate = [uri](const Module& reloaded) { return find_token(reloaded, uri).slot_id; };
  auto pool = SessionPool::create(module, info.slot_id, std::move(pin), options.max_sessions, locate);
  return std::unique_ptr<Token>(new Token(std::move(module), std::move(info), std::move(pool)));
}

std::vector<Mechanism> Token::mechanisms() {
  return pool_->run([this](Session&) { return list_mechanisms(*module_, pool_->slot()); });
}

}  // namespace escrowless::pkcs11
