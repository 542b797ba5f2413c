#include "tests/support/test_postgresql.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include "keyservice/store/postgresql.h"

namespace escrowless::testing {
namespace {

std::filesystem::path state_dir() {
  const char* dir = std::getenv("ESCROWLESS_TEST_POSTGRESQL");
  return dir && *dir ? dir : ESCROWLESS_TEST_POSTGRESQL_DIR;
}

std::string read_conninfo() {
  const std::filesystem::path dir = state_dir();
  std::ifstream file(dir / "conninfo");
  std::string conninfo;
  if (!std::getline(file, conninfo) || conninfo.empty()) {
    throw std::runtime_error("no PostgreSQL test server in " + dir.string() +
                             ": a setup error. Run the test through ctest (the fixture `postgresql` starts "
                             "one), or start one with tests/support/postgresql_server.sh start DIR and set "
                             "ESCROWLESS_TEST_POSTGRESQL=DIR");
  }
  // The password only ever travels through the 0600 passfile.
  ::setenv("PGPASSFILE", (dir / "passfile").c_str(), 0);
  return conninfo;
}

std::string random_name() {
  std::random_device random;
  std::string name = "escrowless_test_";
  for (int i = 0; i < 12; ++i) name.push_back("0123456789abcdef"[random() % 16]);
  return name;
}

}  // namespace

std::string TestDatabase::admin_conninfo() { return read_conninfo(); }

std::string TestDatabase::certificate(const char* name) { return (state_dir() / name).string(); }

TestDatabase::TestDatabase() : name_(random_name()) {
  const std::string admin = admin_conninfo();
  keyservice::postgresql::Connection::open(admin).exec("CREATE DATABASE " + name_);
  // A later dbname keyword overrides the admin one.
  conninfo_ = admin + " dbname=" + name_;
}

TestDatabase::~TestDatabase() {
  try {
    keyservice::postgresql::Connection::open(admin_conninfo()).exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The server went away with the run; its folder is removed by postgresql:stop.
  }
}

void TestDatabase::exec(const std::string& sql) const {
  keyservice::postgresql::Connection::open(conninfo_).exec(sql);
}

}  // namespace escrowless::testing
