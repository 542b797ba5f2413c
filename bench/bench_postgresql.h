// A PostgreSQL server for a bench run: the tests' harness (tests/support/postgresql_server.sh:
// initdb + pg_ctl in a temporary folder, a free port on 127.0.0.1, never a system service),
// started on first use and stopped when the bench exits, and a fresh database in it per run.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

#include "keyservice/store/postgresql.h"

namespace escrowless::bench {

class BenchPostgres {
 public:
  // The server is started in `state_dir` (its conninfo and passfile go there).
  explicit BenchPostgres(std::filesystem::path state_dir) : state_(std::move(state_dir)) {
    if (std::system(command("start").c_str()) != 0) {
      throw std::runtime_error("could not start PostgreSQL (" + std::string(kScript) + ")");
    }
    std::ifstream file(state_ / "conninfo");
    std::getline(file, admin_);
    ::setenv("PGPASSFILE", (state_ / "passfile").c_str(), 1);
  }
  ~BenchPostgres() { [[maybe_unused]] const int ignored = std::system(command("stop").c_str()); }
  BenchPostgres(const BenchPostgres&) = delete;
  BenchPostgres& operator=(const BenchPostgres&) = delete;

  // A new database; its conninfo.
  std::string create_database() {
    std::random_device random;
    const std::string name = "bench_" + std::to_string(random()) + std::to_string(random());
    keyservice::postgresql::Connection::open(admin_).exec("CREATE DATABASE " + name);
    return admin_ + " dbname=" + name;
  }

  // Bytes the database takes on disk (tables, indexes, TOAST).
  static std::uint64_t database_size(const std::string& conninfo) {
    auto db = keyservice::postgresql::Connection::open(conninfo);
    return static_cast<std::uint64_t>(db.query("SELECT pg_database_size(current_database())").int64(0, 0));
  }

 private:
  static constexpr const char* kScript = ESCROWLESS_SOURCE_DIR "/tests/support/postgresql_server.sh";
  std::string command(const char* verb) const { return std::string(kScript) + " " + verb + " '" + state_.string() + "'"; }

  std::filesystem::path state_;
  std::string admin_;
};

}  // namespace escrowless::bench
