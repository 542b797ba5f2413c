// A fresh log signed by an Ed25519 or P-256 key made in the test token, in the backend this test
// process runs against: a SQLite file in a temporary folder, or, when ctest sets
// ESCROWLESS_TEST_LOG_STORAGE=postgresql (the "[postgresql]" copies of the log tests), a fresh
// database in the run's PostgreSQL server.
#pragma once

#include <sqlite3.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "audit/encoding.h"
#include "keyservice/log/log_database.h"
#include "keyservice/log/transparency_log.h"
#include "pkcs11/keys.h"
#include "tests/support/test_postgresql.h"
#include "tests/support/test_token.h"

namespace escrowless::testing {

// True when this process tests the PostgreSQL backend.
inline bool testing_postgresql() {
  const char* storage = std::getenv("ESCROWLESS_TEST_LOG_STORAGE");
  if (!storage || std::string_view(storage) == "sqlite") return false;
  if (std::string_view(storage) == "postgresql") return true;
  throw std::runtime_error("ESCROWLESS_TEST_LOG_STORAGE must be sqlite or postgresql");
}

class LogFixture {
 public:
  explicit LogFixture(pkcs11::Algorithm algorithm = pkcs11::Algorithm::ed25519,
                      std::string origin = "log.escrowless.test/v1")
      : origin_(std::move(origin)),
        key_(pkcs11::generate_key_pair(pool(), algorithm, pkcs11::random_key_id(),
                                       "log-key-" + std::to_string(counter()++))) {
    if (testing_postgresql()) {
      postgres_.emplace();
      database_ = keyservice::LogDatabase::postgresql(postgres_->conninfo());
    } else {
      database_ = keyservice::LogDatabase::sqlite((dir_.path() / "log.db").string());
    }
    keyservice::TokenNoteSigner signer(pool(), key_, origin_);
    keyservice::TransparencyLog::create(database_, origin_, signer, key_.id);
  }

  std::unique_ptr<keyservice::TransparencyLog> open(keyservice::TransparencyLog::Options options = {}) {
    return keyservice::TransparencyLog::open(database_, pool(), options);
  }
  // The log's writer storage itself, with no log open (to stage what a crash leaves behind).
  std::unique_ptr<keyservice::LogStorage> open_writer() { return keyservice::open_log_writer(database_); }

  // Changes the database behind the log's back, as an attacker with access to it would. The SQL
  // must suit both backends: blob() writes a byte-string literal in the backend's spelling.
  void tamper(const std::string& sql) {
    if (postgres_) {
      postgres_->exec(sql);
      return;
    }
    sqlite3* handle = nullptr;
    if (sqlite3_open(database_.target.c_str(), &handle) != SQLITE_OK) {
      sqlite3_close(handle);
      throw std::runtime_error("cannot open " + database_.target);
    }
    char* error = nullptr;
    const int rc = sqlite3_exec(handle, sql.c_str(), nullptr, nullptr, &error);
    const std::string why = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(handle);
    if (rc != SQLITE_OK) throw std::runtime_error("tamper SQL failed: " + why);
  }
  std::string blob(std::string_view bytes) const {
    const std::string hex =
        audit::hex_encode(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    return postgres_ ? "'\\x" + hex + "'::bytea" : "X'" + hex + "'";
  }

  static pkcs11::SessionPool& pool() { return TestToken::get().token().pool(); }
  const keyservice::LogDatabase& database() const { return database_; }
  const std::string& origin() const { return origin_; }
  const pkcs11::KeyPair& key() const { return key_; }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  TempDir dir_;
  std::optional<TestDatabase> postgres_;
  std::string origin_;
  pkcs11::KeyPair key_;
  keyservice::LogDatabase database_;
};

}  // namespace escrowless::testing
