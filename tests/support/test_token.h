// A fresh SoftHSM token in a temporary folder, made once per test process (catch_discover_tests
// runs each TEST_CASE in its own process, so every test case gets its own token). It is made
// through our own provisioning code, the same path `keyadmin token init` takes.
#pragma once

#include <filesystem>
#include <memory>

#include "pkcs11/softhsm.h"
#include "pkcs11/token.h"

namespace escrowless::testing {

class TestToken {
 public:
  // The process's token; created on first use. A missing SoftHSM fails the test, never skips it.
  static TestToken& get();

  ~TestToken();

  const std::filesystem::path& dir() const { return dir_; }
  const pkcs11::SoftHsmToken& provisioned() const { return provisioned_; }
  pkcs11::Uri uri() const { return provisioned_.uri; }
  // A Token opened from uri(), logged in, with a pool of up to 8 sessions.
  pkcs11::Token& token() { return *token_; }

 private:
  TestToken();

  std::filesystem::path dir_;
  pkcs11::SoftHsmToken provisioned_;
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
