// A fresh log in a temporary folder, signed by an Ed25519 or P-256 key made in the test token.
#pragma once

#include <memory>
#include <string>

#include "keyservice/log/transparency_log.h"
#include "pkcs11/keys.h"
#include "tests/support/test_token.h"

namespace escrowless::testing {

class LogFixture {
 public:
  explicit LogFixture(pkcs11::Algorithm algorithm = pkcs11::Algorithm::ed25519,
                      std::string origin = "log.escrowless.test/v1")
      : origin_(std::move(origin)),
        key_(pkcs11::generate_key_pair(pool(), algorithm, pkcs11::random_key_id(),
                                       "log-key-" + std::to_string(counter()++))),
        db_((dir_.path() / "log.db").string()) {
    keyservice::TokenNoteSigner signer(pool(), key_, origin_);
    keyservice::TransparencyLog::create(db_, origin_, signer, key_.id);
  }

  std::unique_ptr<keyservice::TransparencyLog> open(keyservice::TransparencyLog::Options options = {}) {
    return keyservice::TransparencyLog::open(db_, pool(), options);
  }

  static pkcs11::SessionPool& pool() { return TestToken::get().token().pool(); }
  const std::string& db() const { return db_; }
  const std::string& origin() const { return origin_; }
  const pkcs11::KeyPair& key() const { return key_; }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  TempDir dir_;
  std::string origin_;
  pkcs11::KeyPair key_;
  std::string db_;
};

}  // namespace escrowless::testing
