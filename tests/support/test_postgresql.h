// The PostgreSQL server of this test run and a fresh database in it per test.
//
// ctest starts one real PostgreSQL 15 per run (the `postgresql` fixture: postgresql:start runs
// tests/support/postgresql_server.sh into the build folder, postgresql:stop stops it); tests find
// it there (or in ESCROWLESS_TEST_POSTGRESQL). Every test case makes its own database,
// so cases running side by side (ctest -j) never see each other's tables or advisory locks.
// No server is a setup error that fails the test, never a skip.
#pragma once

#include <string>

namespace escrowless::testing {

class TestDatabase {
 public:
  // CREATE DATABASE with a random name; throws std::runtime_error when there is no server.
  TestDatabase();
  ~TestDatabase();  // DROP DATABASE ... WITH (FORCE)
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // libpq keywords for this database; the password comes from the run's passfile (PGPASSFILE,
  // set for this process by the first TestDatabase).
  const std::string& conninfo() const { return conninfo_; }
  const std::string& name() const { return name_; }
  // Runs SQL in this database as the server's superuser (tests change data behind the service).
  void exec(const std::string& sql) const;
  // The server's admin database (for pg_terminate_backend and such).
  static std::string admin_conninfo();
  // The server's self-signed TLS certificate ("server-ca.crt"), and one that did not sign it
  // ("other-ca.crt"): paths for sslrootcert=.
  static std::string certificate(const char* name);

 private:
  std::string name_;
  std::string conninfo_;
};

}  // namespace escrowless::testing
