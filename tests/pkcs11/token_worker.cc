// A second process on the test token, for multi_process_test.cc:
//
//   token_worker URI INIT-ARGS LOCK-FILE make PREFIX COUNT   makes COUNT key pairs labelled PREFIX-<i>
//   token_worker URI INIT-ARGS LOCK-FILE drop PREFIX COUNT   destroys them again
//
// INIT-ARGS is the module's C_Initialize parameter string, "-" for none; LOCK-FILE the token
// objects' lock file shared by the processes (pkcs11/object_lock.h). Exits 0 when every
// operation succeeded and every key it made signs a message OpenSSL verifies.
#include <cstdio>
#include <string>
#include <string_view>

#include "pkcs11/keys.h"
#include "pkcs11/object_lock.h"
#include "pkcs11/slot.h"
#include "pkcs11/token.h"
#include "tests/support/openssl_verify.h"

int main(int argc, char** argv) {
  using namespace escrowless;
  if (argc != 7) {
    std::fprintf(stderr, "usage: token_worker URI INIT-ARGS LOCK-FILE make|drop PREFIX COUNT\n");
    return 2;
  }
  try {
    pkcs11::share_token_objects_lock(argv[3]);
    pkcs11::TokenOptions options;
    if (std::string_view(argv[2]) != "-") options.module_init_args = argv[2];
    const auto token = pkcs11::Token::open(pkcs11::Uri::parse(argv[1]), options);
    const std::string_view action = argv[4];
    const std::string prefix = argv[5];
    const int count = std::stoi(argv[6]);
    const pkcs11::Algorithm algorithm = pkcs11::choose_algorithm(token->mechanisms());
    for (int i = 0; i < count; ++i) {
      const std::string label = prefix + "-" + std::to_string(i);
      if (action == "make") {
        const pkcs11::KeyPair key = pkcs11::generate_key_pair(token->pool(), algorithm, pkcs11::random_key_id(), label);
        const std::string message = "made by " + label;
        const auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(message.data()), message.size());
        if (!testing::openssl_verify(key.public_key.spki_der(), bytes, pkcs11::sign(token->pool(), key, bytes))) {
          std::fprintf(stderr, "token_worker: %s does not sign\n", label.c_str());
          return 1;
        }
      } else if (action == "drop") {
        const auto key = pkcs11::find_key_pair_by_label(token->pool(), label);
        if (!key) {
          std::fprintf(stderr, "token_worker: %s is not on the token\n", label.c_str());
          return 1;
        }
        pkcs11::destroy_key_pair(token->pool(), *key);
      } else {
        std::fprintf(stderr, "token_worker: unknown action %s\n", argv[4]);
        return 2;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "token_worker: %s\n", e.what());
    return 1;
  }
  return 0;
}
