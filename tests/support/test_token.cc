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

TestToken& TestToken::get() {
  static TestToken instance;
  return instance;
}

TestToken::TestToken() {
  static TempDir folder;  // outlives the token: function statics die in reverse order of creation
  dir_ = folder.path() / "softhsm";
  provisioned_ = pkcs11::provision_softhsm_token(dir_, "escrowless-test", ESCROWLESS_SOFTHSM2_MODULE);
  token_ = pkcs11::Token::open(provisioned_.uri);
}

TestToken::~TestToken() = default;

}  // namespace escrowless::testing
