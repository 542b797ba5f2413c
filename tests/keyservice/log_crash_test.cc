#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <sstream>
#include <string_view>

#include "audit/checkpoint.h"
#include "audit/proof_verify.h"
#include "tests/keyservice/log_fixture.h"

extern char** environ;

using namespace escrowless;
using escrowless::testing::LogFixture;
using escrowless::testing::TestToken;

namespace {

struct Ack {
  std::uint64_t tree_size;
  std::string entry;
};

// Starts the writer, lets it run for `run_for`, kills it with SIGKILL and returns what it
// acknowledged before dying.
std::string run_and_kill(const std::string& db, const std::string& uri, const std::string& prefix,
                         std::chrono::milliseconds run_for) {
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  const std::string program = ESCROWLESS_LOG_CRASH_WRITER;
  std::vector<char*> argv = {const_cast<char*>(program.c_str()), const_cast<char*>(db.c_str()),
                             const_cast<char*>(uri.c_str()), const_cast<char*>(prefix.c_str()), nullptr};
  pid_t child = 0;
  REQUIRE(posix_spawn(&child, program.c_str(), &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);

  std::string output;
  // The clock starts once the writer says it is ready (logged in, log open), up to 60 s.
  constexpr std::string_view kReady = "ready\n";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool ready = false;
  char buffer[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd fd{out[0], POLLIN, 0};
    if (::poll(&fd, 1, 10) > 0) {
      const ssize_t n = ::read(out[0], buffer, sizeof buffer);
      if (n <= 0) break;  // the child exited on its own: an error, reported below
      output.append(buffer, static_cast<std::size_t>(n));
    }
    if (!ready && output.starts_with(kReady)) {
      ready = true;
      output.erase(0, kReady.size());
      deadline = std::chrono::steady_clock::now() + run_for;
    }
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) output.append(buffer, static_cast<std::size_t>(n));
  ::close(out[0]);
  INFO("writer output: " << output.substr(0, 400));
  REQUIRE(ready);
  REQUIRE(WIFSIGNALED(status));  // it was still running: it did not fail on its own
  return output;
}

// The writer's DB argument: a SQLite file, or "postgresql:" and a conninfo.
std::string crash_writer_database(const keyservice::LogDatabase& database) {
  return database.kind == keyservice::LogDatabase::Kind::sqlite ? database.target : "postgresql:" + database.target;
}

}  // namespace

TEST_CASE("log crash: SIGKILL at random moments loses no acknowledged entry", "[hsm][log][crash]") {
  LogFixture fixture;
  fixture.open()->append("{\"crash\":\"seed\"}").get();  // a signed checkpoint exists from the start
  const std::string uri = TestToken::get().uri().to_string();
  std::map<std::uint64_t, Ack> acked;
  std::mt19937 random(20261126);
  std::uint64_t last_checkpoint = 0;
  audit::Hash last_root{};

  constexpr int kCrashes = 25;
  for (int crash = 0; crash < kCrashes; ++crash) {
    INFO("crash " << crash);
    const auto run_for = std::chrono::milliseconds(150 + random() % 400);
    std::istringstream lines(run_and_kill(crash_writer_database(fixture.database()), uri, "c" + std::to_string(crash), run_for));
    std::string word, entry;
    std::uint64_t index = 0, tree_size = 0;
    while (lines >> word >> index >> tree_size >> entry) {
      REQUIRE(word == "ack");
      REQUIRE(acked.count(index) == 0);  // never two acknowledgements for one index
      acked[index] = {tree_size, entry};
    }

    // Restart: the open verifies every leaf and checkpoint and signs an interrupted batch.
    auto log = fixture.open();
    const auto checkpoint =
        audit::open_checkpoint(log->checkpoint(), log->origin(), std::span(&log->verifier(), 1));
    REQUIRE(checkpoint.size >= last_checkpoint);  // never backwards
    if (last_checkpoint > 0) {
      CHECK_NOTHROW(audit::verify_consistency(last_checkpoint, checkpoint.size, last_root,
                                              checkpoint.root,
                                              log->consistency_proof(last_checkpoint, checkpoint.size)));
    }
    // Every acknowledged entry is there, at its index, with its bytes.
    const std::vector<std::string> stored = log->entries(0, checkpoint.size);
    std::size_t lost = 0;
    for (const auto& [i, ack] : acked) {
      if (i >= stored.size() || ack.tree_size > checkpoint.size || stored[i] != ack.entry) ++lost;
    }
    REQUIRE(lost == 0);
    last_checkpoint = checkpoint.size;
    last_root = checkpoint.root;
  }
  CHECK(acked.size() > static_cast<std::size_t>(kCrashes));  // the writers got real work done
}
