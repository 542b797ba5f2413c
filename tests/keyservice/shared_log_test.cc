// One log, several nodes (TransparencyLog::Options::shared, keyservice/log/shared_log.h), on the
// run's real PostgreSQL: every entry placed exactly once whichever node took it, one node
// sequencing at a time, a caller that gave up never logged behind its back, and SIGKILL of the
// sequencing node, ten times over, losing no acknowledged entry.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "audit/proof_verify.h"
#include "tests/keyservice/log_fixture.h"

extern char** environ;

using namespace escrowless;
using escrowless::testing::LogFixture;
using escrowless::testing::TestToken;
using Clock = std::chrono::steady_clock;

namespace {

keyservice::TransparencyLog::Options shared_options() {
  keyservice::TransparencyLog::Options options;
  options.shared = true;
  options.election_interval = std::chrono::milliseconds(100);
  return options;
}

// Waits up to 60 s for `done`, polling.
template <typename F>
bool eventually(F done) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void check_receipt(keyservice::TransparencyLog& log, const std::string& entry, const keyservice::Receipt& receipt) {
  const auto checkpoint = audit::open_checkpoint(receipt.checkpoint, log.origin(), std::span(&log.verifier(), 1));
  REQUIRE(checkpoint.size == receipt.tree_size);
  REQUIRE(receipt.index < receipt.tree_size);
  audit::verify_inclusion(receipt.index, receipt.tree_size, audit::leaf_hash(entry),
                          log.inclusion_proof(receipt.index, receipt.tree_size), checkpoint.root);
}

}  // namespace

TEST_CASE("shared log: three nodes append at once, each entry is placed once and one node sequences",
          "[hsm][log][postgresql][shared]") {
  REQUIRE(escrowless::testing::testing_postgresql());
  LogFixture fixture;
  std::vector<std::unique_ptr<keyservice::TransparencyLog>> nodes;
  for (int i = 0; i < 3; ++i) nodes.push_back(keyservice::TransparencyLog::open(fixture.database(), fixture.pool(), shared_options()));

  constexpr int kPerNode = 60;
  std::vector<std::vector<std::pair<std::string, std::future<keyservice::Receipt>>>> sent(nodes.size());
  std::vector<std::thread> threads;
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    threads.emplace_back([&, n] {
      for (int i = 0; i < kPerNode; ++i) {
        std::string entry = "{\"node\":" + std::to_string(n) + ",\"i\":" + std::to_string(i) + "}";
        auto future = nodes[n]->append(entry);
        sent[n].emplace_back(std::move(entry), std::move(future));
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::set<std::uint64_t> indices;
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    for (auto& [entry, future] : sent[n]) {
      const keyservice::Receipt receipt = future.get();
      REQUIRE(indices.insert(receipt.index).second);  // never two entries at one index
      check_receipt(*nodes[n], entry, receipt);
      // Every node serves it, as soon as its caller heard of it.
      for (auto& node : nodes) REQUIRE(node->entry(receipt.index) == entry);
    }
  }
  REQUIRE(indices.size() == nodes.size() * kPerNode);
  REQUIRE(*indices.rbegin() == indices.size() - 1);  // no gaps: nothing else was logged

  std::size_t sequencing = 0;
  std::uint64_t sequenced = 0;
  for (auto& node : nodes) {
    sequencing += node->sequencing() ? 1 : 0;
    sequenced += node->stats().entries;
  }
  CHECK(sequencing == 1);
  CHECK(sequenced == indices.size());
}

TEST_CASE("shared log: an entry whose caller gave up is withdrawn, never logged later",
          "[hsm][log][postgresql][shared]") {
  REQUIRE(escrowless::testing::testing_postgresql());
  LogFixture fixture;
  fixture.open()->append("{\"seed\":1}").get();
  auto options = shared_options();
  options.ack_timeout = std::chrono::milliseconds(300);
  // Another writer holds the log, and leaves no room for this node to sequence.
  auto blocker = fixture.open_writer();
  auto node = keyservice::TransparencyLog::open(fixture.database(), fixture.pool(), options);
  auto future = node->append("{\"withdrawn\":1}");
  REQUIRE_THROWS_MATCHES(future.get(), keyservice::Error,
                         Catch::Matchers::Predicate<keyservice::Error>(
                             [](const keyservice::Error& e) { return e.kind() == keyservice::ErrorKind::unavailable; },
                             "unavailable"));
  CHECK_FALSE(node->sequencing());

  blocker.reset();  // the node can lead now
  const keyservice::Receipt receipt = node->append("{\"after\":1}").get();
  CHECK(node->sequencing());
  CHECK(receipt.index == 1);  // the withdrawn entry took no index
  CHECK(node->entries(0, receipt.tree_size) == std::vector<std::string>{"{\"seed\":1}", "{\"after\":1}"});
}

namespace {

// One node of the failover test: log_crash_writer in shared mode, read through a pipe.
class Node {
 public:
  Node(const std::string& db, const std::string& uri, const std::string& prefix) {
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC | O_NONBLOCK) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    const std::string program = ESCROWLESS_LOG_CRASH_WRITER;
    const std::string shared = "shared";
    std::vector<char*> argv = {const_cast<char*>(program.c_str()), const_cast<char*>(db.c_str()),
                               const_cast<char*>(uri.c_str()),     const_cast<char*>(prefix.c_str()),
                               const_cast<char*>(shared.c_str()),  nullptr};
    REQUIRE(posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    fd_ = out[0];
  }
  ~Node() {
    kill();
    ::close(fd_);
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    read();  // what it wrote before it died
  }
  // Reads what is there; complete lines go to `lines`.
  void read() {
    char buffer[65536];
    for (ssize_t n; (n = ::read(fd_, buffer, sizeof buffer)) > 0;) partial_.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t end; (end = partial_.find('\n')) != std::string::npos; partial_.erase(0, end + 1)) {
      lines.push_back(partial_.substr(0, end));
    }
  }
  bool alive() const { return pid_ > 0; }
  std::vector<std::string> lines;  // not yet consumed

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string partial_;
};

struct Ack {
  std::uint64_t tree_size;
  std::string entry;
};

}  // namespace

TEST_CASE("shared log: SIGKILL of the sequencing node, ten times under load, loses no acknowledged entry",
          "[hsm][log][postgresql][shared][crash]") {
  REQUIRE(escrowless::testing::testing_postgresql());
  LogFixture fixture;
  fixture.open()->append("{\"seed\":1}").get();
  const std::string db = "postgresql:" + fixture.database().target;
  const std::string uri = TestToken::get().uri().to_string();

  std::vector<std::unique_ptr<Node>> nodes;
  std::map<Node*, bool> leads;
  std::map<std::uint64_t, Ack> acked;
  std::uint64_t largest_tree = 0;
  int started = 0;
  const auto start_node = [&] { nodes.push_back(std::make_unique<Node>(db, uri, "n" + std::to_string(started++))); };
  // Reads every node; returns true when an ack covering a tree larger than `beyond` came in.
  const auto collect = [&](std::uint64_t beyond) {
    bool progressed = false;
    for (auto& node : nodes) {
      node->read();
      for (const std::string& line : node->lines) {
        std::istringstream words(line);
        std::string word, entry;
        std::uint64_t index = 0, tree_size = 0;
        words >> word;
        if (word == "lead") {
          leads[node.get()] = true;
        } else if (word == "ack" && (words >> index >> tree_size >> entry)) {
          const auto [at, inserted] = acked.emplace(index, Ack{tree_size, entry});
          REQUIRE((inserted || at->second.entry == entry));  // never two entries acknowledged at one index
          largest_tree = std::max(largest_tree, tree_size);
          progressed = progressed || tree_size > beyond;
        }
      }
      node->lines.clear();
    }
    return progressed;
  };

  for (int i = 0; i < 3; ++i) start_node();
  std::vector<double> failover_ms;
  constexpr int kKills = 10;
  for (int kill = 0; kill < kKills; ++kill) {
    INFO("kill " << kill);
    // Under load, with a known leader.
    const std::size_t acked_before = acked.size();
    Node* leader = nullptr;
    REQUIRE(eventually([&] {
      collect(0);
      leader = nullptr;
      for (auto& node : nodes) {
        if (node->alive() && leads[node.get()]) leader = node.get();
      }
      return leader && acked.size() >= acked_before + 20;
    }));
    const std::uint64_t before = largest_tree;
    const auto killed_at = Clock::now();
    leader->kill();
    collect(0);
    std::erase_if(nodes, [&](const std::unique_ptr<Node>& node) {
      if (node.get() != leader) return false;
      leads.erase(leader);
      return true;
    });
    start_node();
    // Another node takes over and acknowledges new entries, with no operator action.
    const std::uint64_t after_kill = largest_tree;
    REQUIRE(eventually([&] { return collect(std::max(before, after_kill)); }));
    failover_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - killed_at).count());
  }
  for (auto& node : nodes) node->kill();
  collect(0);

  // The whole stored log verifies: every leaf, subtree and signed checkpoint (so every pair of
  // checkpoints any node served is consistent), and every acknowledged entry is at its index.
  auto log = fixture.open();
  const auto checkpoint = audit::open_checkpoint(log->checkpoint(), log->origin(), std::span(&log->verifier(), 1));
  REQUIRE(checkpoint.size >= largest_tree);
  const std::vector<std::string> stored = log->entries(0, checkpoint.size);
  std::size_t lost = 0;
  for (const auto& [index, ack] : acked) {
    if (index >= stored.size() || stored[index] != ack.entry) ++lost;
  }
  REQUIRE(lost == 0);
  CHECK(acked.size() > 20 * kKills);

  std::sort(failover_ms.begin(), failover_ms.end());
  WARN("failover, SIGKILL to the next acknowledged write: p50 " << failover_ms[failover_ms.size() / 2] << " ms, max "
                                                                << failover_ms.back() << " ms");
}
