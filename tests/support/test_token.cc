#include "tests/support/test_token.h"

#include <stdlib.h>

#include <stdexcept>
#include <string>

namespace escrowless::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "escrowless-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

TokenKind test_token_kind() {
  const char* value = std::getenv("ESCROWLESS_TEST_TOKEN");
  const std::string kind = value == nullptr ? "" : value;
  if (kind.empty() || kind == "softhsm") return TokenKind::softhsm;
  if (kind == "tpm2") return TokenKind::tpm2;
  if (kind == "nss") return TokenKind::nss;
  throw std::runtime_error("ESCROWLESS_TEST_TOKEN='" + kind + "': use softhsm, tpm2 or nss");
}

TestToken& TestToken::get() {
  static TestToken instance;
  return instance;
}

TestToken::TestToken() {
  static TempDir folder;  // outlives the token: function statics die in reverse order of creation
  const TokenKind kind = test_token_kind();
  dir_ = folder.path() / std::string(to_string(kind));
  constexpr std::string_view kLabel = "escrowless-test";
  switch (kind) {
    case TokenKind::softhsm: made_ = make_softhsm_token(dir_, kLabel); break;
    case TokenKind::tpm2: made_ = make_tpm2_token(dir_, kLabel); break;
    case TokenKind::nss: made_ = make_nss_token(dir_, kLabel); break;
  }
  token_ = pkcs11::Token::open(made_.uri, options());
}

TestToken::~TestToken() {
  token_.reset();  // C_Finalize while the token's helpers still run
  for (auto it = made_.processes.rbegin(); it != made_.processes.rend(); ++it) (*it)->stop();
}

pkcs11::Algorithm TestToken::algorithm() { return pkcs11::choose_algorithm(token_->mechanisms()); }

bool TestToken::supports(pkcs11::Algorithm algorithm) {
  const auto mechanisms = token_->mechanisms();
  const auto offers = [&](CK_MECHANISM_TYPE type, CK_FLAGS flag) {
    for (const auto& m : mechanisms) {
      if (m.type == type && (m.flags & flag) != 0) return true;
    }
    return false;
  };
  if (algorithm == pkcs11::Algorithm::ed25519) {
    return offers(CKM_EC_EDWARDS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR) && offers(CKM_EDDSA, CKF_SIGN);
  }
  return offers(CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR) && offers(CKM_ECDSA, CKF_SIGN);
}

pkcs11::TokenOptions TestToken::options() const {
  pkcs11::TokenOptions options;
  options.module_init_args = made_.module_init_args;
  return options;
}

}  // namespace escrowless::testing
