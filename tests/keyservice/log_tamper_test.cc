#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <utility>

#include "audit/checkpoint.h"
#include "audit/encoding.h"
#include "keyservice/error.h"
#include "tests/keyservice/log_fixture.h"

using namespace escrowless;
using escrowless::testing::LogFixture;
using keyservice::ErrorKind;
using keyservice::TransparencyLog;

namespace {

std::string entry(int i) { return R"({"n":)" + std::to_string(i) + "}"; }

// Fills a log with `count` entries in a few batches and closes it.
void fill(LogFixture& fixture, int count) {
  auto log = fixture.open();
  for (int i = 0; i < count; i += 10) {
    std::vector<std::future<keyservice::Receipt>> futures;
    for (int j = i; j < std::min(count, i + 10); ++j) futures.push_back(log->append(entry(j)));
    for (auto& f : futures) f.get();
  }
}

const std::string kZeroHash(32, '\0');

std::string open_failure(LogFixture& fixture, bool all_leaves = true) {
  TransparencyLog::Options options;
  options.verify_all_leaves = all_leaves;
  try {
    auto log = fixture.open(options);
  } catch (const keyservice::Error& e) {
    CHECK(e.kind() == ErrorKind::integrity);
    return e.what();
  }
  FAIL("the log opened");
  return {};
}

}  // namespace

TEST_CASE("log tamper: a rewritten leaf is caught on open", "[hsm][log]") {
  LogFixture fixture;
  fill(fixture, 30);
  SECTION("data changed, hash kept") {
    fixture.tamper("UPDATE leaves SET data = " + fixture.blob("{\"n\":999}") + " WHERE idx = 17");
    CHECK_THAT(open_failure(fixture), Catch::Contains("leaf 17"));
  }
  SECTION("data and leaf hash changed together") {
    // Consistent with itself, so only the stored subtrees above it give the change away.
    const audit::Hash hash = audit::leaf_hash(entry(999));
    fixture.tamper("UPDATE leaves SET data = " + fixture.blob(entry(999)) + ", leaf_hash = " +
                   fixture.blob({reinterpret_cast<const char*>(hash.data()), hash.size()}) + " WHERE idx = 17");
    CHECK_THAT(open_failure(fixture), Catch::Contains("subtree"));
  }
}

TEST_CASE("log tamper: missing leaves, changed subtrees and checkpoints are caught", "[hsm][log]") {
  LogFixture fixture;
  fill(fixture, 30);
  SECTION("last leaf deleted") {
    fixture.tamper("DELETE FROM leaves WHERE idx = 29");
    CHECK_THAT(open_failure(fixture), Catch::Contains("covers 30 leaves but 29 are stored"));
  }
  SECTION("a middle leaf deleted") {
    fixture.tamper("DELETE FROM leaves WHERE idx = 5");
    CHECK_THAT(open_failure(fixture), Catch::Contains("leaf 5 is missing"));
  }
  SECTION("a stored subtree changed") {
    fixture.tamper("UPDATE nodes SET hash = " + fixture.blob(kZeroHash) + " WHERE level = 2 AND idx = 1");
    CHECK_THAT(open_failure(fixture), Catch::Contains("subtree"));
  }
  SECTION("a right-edge subtree changed is caught even by the quick check") {
    fixture.tamper("UPDATE nodes SET hash = " + fixture.blob(kZeroHash) + " WHERE level = 4 AND idx = 0");
    CHECK_THAT(open_failure(fixture, false), Catch::Contains("root"));
  }
  SECTION("a signed checkpoint's note replaced") {
    fixture.tamper("UPDATE checkpoints SET note = (SELECT note FROM checkpoints WHERE size = 10) WHERE size = 20");
    CHECK_THAT(open_failure(fixture), Catch::Contains("checkpoint 20"));
  }
  SECTION("the newest checkpoint's root replaced") {
    fixture.tamper("UPDATE checkpoints SET root = " + fixture.blob(kZeroHash) + " WHERE size = 30");
    CHECK_THAT(open_failure(fixture), Catch::Contains("root"));
  }
  SECTION("history rewritten: leaves and checkpoints of another log") {
    fixture.tamper("UPDATE leaves SET data = " + fixture.blob("{\"x\":1}") + " WHERE idx >= 0; DELETE FROM nodes;");
    const std::string why = open_failure(fixture);
    CHECK_THAT(why, Catch::Contains("leaf 0"));
  }
}

TEST_CASE("log tamper: another key or origin is refused", "[hsm][log]") {
  LogFixture fixture;
  fill(fixture, 3);
  LogFixture other;
  fixture.tamper("UPDATE meta SET value = '" + audit::hex_encode(other.key().id) + "' WHERE key = 'log_key_id'");
  try {
    fixture.open();
    FAIL("opened with another key");
  } catch (const keyservice::Error& e) {
    CHECK(e.kind() == ErrorKind::integrity);
    CHECK_THAT(e.what(), Catch::Contains("not the one this log was created with"));
  }
}

TEST_CASE("log: a batch stored but not signed before a crash is signed on the next start", "[hsm][log]") {
  LogFixture fixture;
  fill(fixture, 5);
  {
    // What a crash between the batch's transaction and its signature leaves behind.
    auto log = fixture.open();  // only to read the tree state
    std::vector<keyservice::NewLeaf> leaves = {{entry(5), audit::leaf_hash(entry(5))}};
    audit::CompactTree tree;
    for (const auto& data : log->entries(0, 5)) tree.append(audit::leaf_hash(data));
    log.reset();
    auto storage = fixture.open_writer();
    std::vector<keyservice::NodeHash> nodes;
    tree.append(leaves[0].hash, [&](const audit::NodeId& node, const audit::Hash& h) {
      if (node.level > 0) nodes.push_back({node, h});
    });
    storage->append(leaves, nodes,
                    {6, tree.root(), audit::format_checkpoint(fixture.origin(), 6, tree.root()), {}});
  }
  auto log = fixture.open();
  // The tail is signed by the retry loop without any new entry (polled up to 60 s: only a hang).
  for (int i = 0; i < 600 && log->size() < 6; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(log->size() == 6);
  const auto checkpoint = audit::open_checkpoint(log->checkpoint(), log->origin(), std::span(&log->verifier(), 1));
  CHECK(checkpoint.size == 6);
  CHECK(log->entries(5, 1).front() == entry(5));
}

namespace {

// Fake fault: a signer that fails while `broken` is set (a token that went away), and otherwise
// signs with the real token key.
class FlakySigner final : public keyservice::NoteSigner {
 public:
  FlakySigner(pkcs11::SessionPool& pool, const pkcs11::KeyPair& key, const std::string& origin)
      : real_(pool, key, origin) {}
  const audit::VerifierKey& verifier() const override { return real_.verifier(); }
  std::string sign(std::string_view text) override {
    if (broken) throw keyservice::Error(ErrorKind::unavailable, "fake: token unavailable");
    return real_.sign(text);
  }
  std::atomic<bool> broken{false};

 private:
  keyservice::TokenNoteSigner real_;
};

}  // namespace

TEST_CASE("log: while signing fails writes are not acknowledged, and later checkpoints cover them", "[hsm][log]") {
  LogFixture fixture;
  auto signer = std::make_unique<FlakySigner>(LogFixture::pool(), fixture.key(), fixture.origin());
  FlakySigner& flaky = *signer;
  auto log = TransparencyLog::open(fixture.database(), std::move(signer), {});
  log->append(entry(0)).get();

  flaky.broken = true;
  auto failing = log->append(entry(1));
  CHECK_THROWS_AS(failing.get(), keyservice::Error);
  CHECK(log->size() == 1);  // nothing new is served unsigned

  flaky.broken = false;
  const auto receipt = log->append(entry(2)).get();
  CHECK(receipt.index == 2);
  CHECK(receipt.tree_size == 3);
  CHECK(log->entries(1, 1).front() == entry(1));  // stored, and now covered by a checkpoint
}

namespace {

// Fake fault: the database connection drops right after COMMIT (the batch is stored, the caller
// hears an error), once when `lose_next_commit` is set; everything else goes to the real storage.
class LostCommitStorage final : public keyservice::LogStorage {
 public:
  explicit LostCommitStorage(std::unique_ptr<keyservice::LogStorage> real) : real_(std::move(real)) {}
  bool lose_next_commit = false;

  void append(std::span<const keyservice::NewLeaf> leaves, std::span<const keyservice::NodeHash> nodes,
              const keyservice::StoredCheckpoint& checkpoint) override {
    real_->append(leaves, nodes, checkpoint);
    if (std::exchange(lose_next_commit, false)) {
      throw keyservice::Error(ErrorKind::unavailable, "fake: connection lost after COMMIT");
    }
  }
  std::optional<std::string> meta(std::string_view key) override { return real_->meta(key); }
  void set_meta(std::string_view key, std::string_view value) override { real_->set_meta(key, value); }
  std::uint64_t leaf_count() override { return real_->leaf_count(); }
  void sign_checkpoint(std::uint64_t size, std::string_view note) override { real_->sign_checkpoint(size, note); }
  std::optional<keyservice::StoredCheckpoint> latest_checkpoint() override { return real_->latest_checkpoint(); }
  std::optional<keyservice::StoredCheckpoint> latest_signed_checkpoint() override {
    return real_->latest_signed_checkpoint();
  }
  std::vector<audit::Hash> node_hashes(std::span<const audit::NodeId> nodes) override {
    return real_->node_hashes(nodes);
  }
  std::vector<std::string> leaves(std::uint64_t start, std::uint64_t count) override {
    return real_->leaves(start, count);
  }
  void for_each_leaf(std::uint64_t start, std::uint64_t end, const LeafVisitor& visit) override {
    real_->for_each_leaf(start, end, visit);
  }
  void for_each_signed_checkpoint(const std::function<void(const keyservice::StoredCheckpoint&)>& visit) override {
    real_->for_each_signed_checkpoint(visit);
  }
  void for_each_node(const std::function<void(const keyservice::NodeHash&)>& visit) override {
    real_->for_each_node(visit);
  }

 private:
  std::unique_ptr<keyservice::LogStorage> real_;
};

}  // namespace

TEST_CASE("log: a batch stored although its commit reported an error is adopted, not written over", "[hsm][log]") {
  LogFixture fixture;
  LostCommitStorage storage(fixture.open_writer());
  keyservice::TokenNoteSigner signer(LogFixture::pool(), fixture.key(), fixture.origin());
  keyservice::Sequencer sequencer(storage, signer, fixture.origin(), audit::CompactTree{}, false, {});
  CHECK(sequencer.submit(entry(0)).get().index == 0);

  storage.lose_next_commit = true;
  auto lost = sequencer.submit(entry(1));
  CHECK_THROWS_AS(lost.get(), keyservice::Error);  // not acknowledged...

  // ...but stored: the next batch goes after it, and its checkpoint covers both.
  const keyservice::Receipt receipt = sequencer.submit(entry(2)).get();
  CHECK(receipt.index == 2);
  CHECK(receipt.tree_size == 3);
  CHECK(storage.leaves(0, 3) == std::vector<std::string>{entry(0), entry(1), entry(2)});
  sequencer.stop();
  CHECK(storage.latest_signed_checkpoint()->size == 3);
}
