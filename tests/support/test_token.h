// A fresh token in a temporary folder, made once per test process (catch_discover_tests runs
// each TEST_CASE in its own process, so every test case gets its own token), of the kind that
// ESCROWLESS_TEST_TOKEN names:
//   softhsm (default)  SoftHSM 2, through our own provisioning code (`keyadmin token init`);
//   tpm2               tpm2-pkcs11 on a software TPM: swtpm, and tpm2-abrmd on a private D-Bus;
//   nss                NSS softokn on a new certutil database, C_Initialize parameters given.
// Everything started for it is stopped when the process ends. A missing program or module fails
// the test (a setup error), never skips it. hsm-config/ describes each kind.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pkcs11/token.h"
#include "tests/support/token_backends.h"

namespace escrowless::testing {

// ESCROWLESS_TEST_TOKEN's value; throws std::runtime_error for an unknown one.
TokenKind test_token_kind();

class TestToken {
 public:
  // The process's token; created on first use, from the main thread (token_backends.h).
  static TestToken& get();

  ~TestToken();

  TokenKind kind() const { return made_.kind; }
  // The token's own folder. Only SoftHSM keeps its objects there as files (DIR/tokens).
  const std::filesystem::path& dir() const { return dir_; }
  const pkcs11::TokenInfo& info() const { return made_.info; }
  // Token label and serial, module-path, pin-source=file:... .
  pkcs11::Uri uri() const { return made_.uri; }
  // What opening uri() takes besides the URI (the module's C_Initialize parameters), with login.
  pkcs11::TokenOptions options() const;
  // A Token opened from uri(), logged in, with a pool of up to 8 sessions.
  pkcs11::Token& token() { return *token_; }
  // The algorithm the token's mechanisms choose (pkcs11::choose_algorithm): what the service uses.
  pkcs11::Algorithm algorithm();
  // Whether the token offers key generation and signing for `algorithm`.
  bool supports(pkcs11::Algorithm algorithm);

 private:
  TestToken();

  std::filesystem::path dir_;
  MadeToken made_;
  std::unique_ptr<pkcs11::Token> token_;
};

// A new empty private temporary folder, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace escrowless::testing
