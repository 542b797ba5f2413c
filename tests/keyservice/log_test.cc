#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <thread>

#include "audit/checkpoint.h"
#include "audit/proof_verify.h"
#include "keyservice/error.h"
#include "tests/keyservice/log_fixture.h"

using namespace escrowless;
using escrowless::testing::LogFixture;
using keyservice::Receipt;
using keyservice::TransparencyLog;

namespace {

std::string entry(int i) {
  return R"({"n":)" + std::to_string(i) + R"(,"type":"test","time":"2026-11-26T00:00:00.000Z"})";
}

// Opens the note with the log's verifier: a checkpoint only counts when its signature checks.
audit::Checkpoint open_note(const TransparencyLog& log, const std::string& note) {
  return audit::open_checkpoint(note, log.origin(), std::span(&log.verifier(), 1));
}

void check_receipt(TransparencyLog& log, const std::string& data, const Receipt& receipt) {
  const audit::Checkpoint checkpoint = open_note(log, receipt.checkpoint);
  CHECK(checkpoint.size == receipt.tree_size);
  REQUIRE(receipt.index < receipt.tree_size);
  const auto proof = log.inclusion_proof(receipt.index, receipt.tree_size);
  CHECK_NOTHROW(audit::verify_inclusion(receipt.index, receipt.tree_size, audit::leaf_hash(data),
                                        proof, checkpoint.root));
  CHECK(log.entries(receipt.index, 1).front() == data);
}

}  // namespace

TEST_CASE("log: appended entries come back with signed checkpoints and valid proofs", "[hsm][log]") {
  const auto algorithm = GENERATE(pkcs11::Algorithm::ed25519, pkcs11::Algorithm::ecdsa_p256);
  INFO("log key " << pkcs11::to_string(algorithm));
  LogFixture fixture(algorithm);
  auto log = fixture.open();
  CHECK(log->size() == 0);
  CHECK_THROWS_AS(log->checkpoint(), keyservice::Error);

  std::vector<std::string> data;
  std::vector<audit::Checkpoint> checkpoints;
  for (int round = 0; round < 5; ++round) {
    std::vector<std::future<Receipt>> futures;
    for (int i = 0; i < 7 * (round + 1); ++i) {
      data.push_back(entry(static_cast<int>(data.size())));
      futures.push_back(log->append(data.back()));
    }
    for (auto& future : futures) {
      const Receipt receipt = future.get();
      check_receipt(*log, data[receipt.index], receipt);
    }
    checkpoints.push_back(open_note(*log, log->checkpoint()));
  }
  CHECK(log->size() == data.size());
  CHECK(checkpoints.back().size == data.size());

  // Every checkpoint is consistent with every later one.
  for (std::size_t i = 0; i < checkpoints.size(); ++i) {
    for (std::size_t j = i; j < checkpoints.size(); ++j) {
      const auto proof = log->consistency_proof(checkpoints[i].size, checkpoints[j].size);
      CHECK_NOTHROW(audit::verify_consistency(checkpoints[i].size, checkpoints[j].size,
                                              checkpoints[i].root, checkpoints[j].root, proof));
    }
  }
  CHECK(log->entries(0, data.size()) == data);
}

TEST_CASE("log: concurrent submitters each get their own index", "[hsm][log][concurrency]") {
  LogFixture fixture;
  auto log = fixture.open();
  constexpr int kThreads = 4, kPerThread = 150;
  std::vector<std::vector<std::pair<std::string, Receipt>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string data = entry(t * 1000 + i);
        Receipt receipt = log->append(data).get();
        results[t].emplace_back(std::move(data), std::move(receipt));
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::set<std::uint64_t> indices;
  for (const auto& per_thread : results) {
    for (const auto& [data, receipt] : per_thread) {
      indices.insert(receipt.index);
      CHECK(log->entries(receipt.index, 1).front() == data);
    }
  }
  CHECK(indices.size() == kThreads * kPerThread);
  CHECK(*indices.rbegin() == kThreads * kPerThread - 1);
  // Batching happened: fewer signatures than entries.
  CHECK(log->stats().batches < static_cast<std::uint64_t>(kThreads * kPerThread));
  const auto& [data, receipt] = results[0].front();
  check_receipt(*log, data, receipt);
}

TEST_CASE("log: reopening verifies the stored tree and continues it", "[hsm][log]") {
  LogFixture fixture;
  std::string first_checkpoint;
  {
    auto log = fixture.open();
    for (int i = 0; i < 40; ++i) log->append(entry(i)).get();
    first_checkpoint = log->checkpoint();
  }
  for (const bool all_leaves : {true, false}) {
    TransparencyLog::Options options;
    options.verify_all_leaves = all_leaves;
    auto log = fixture.open(options);
    CHECK(log->size() >= 40);
    const Receipt receipt = log->append(entry(1000)).get();
    check_receipt(*log, entry(1000), receipt);
    const auto old = open_note(*log, first_checkpoint);
    const auto now = open_note(*log, log->checkpoint());
    CHECK_NOTHROW(audit::verify_consistency(old.size, now.size, old.root, now.root,
                                            log->consistency_proof(old.size, now.size)));
  }
}

TEST_CASE("log: reads beyond the newest checkpoint are refused", "[hsm][log]") {
  LogFixture fixture;
  auto log = fixture.open();
  for (int i = 0; i < 3; ++i) log->append(entry(i)).get();
  const auto kind_of = [](auto f) {
    try {
      f();
    } catch (const keyservice::Error& e) {
      return e.kind();
    }
    return keyservice::ErrorKind::internal;
  };
  using keyservice::ErrorKind;
  CHECK(kind_of([&] { log->entries(2, 2); }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] { log->entries(UINT64_MAX, 2); }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] { log->inclusion_proof(3, 3); }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] { log->inclusion_proof(0, 4); }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] { log->consistency_proof(0, 3); }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] { log->consistency_proof(2, 1); }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] { log->consistency_proof(1, 9); }) == ErrorKind::invalid_input);
}

TEST_CASE("log: creating over an existing log is refused", "[hsm][log]") {
  LogFixture fixture;
  keyservice::TokenNoteSigner signer(LogFixture::pool(), fixture.key(), fixture.origin());
  CHECK_THROWS_WITH(TransparencyLog::create(fixture.database(), fixture.origin(), signer, fixture.key().id),
                    Catch::Contains("already exists"));
}

TEST_CASE("log: a second writer on the same log is refused", "[hsm][log]") {
  LogFixture fixture;
  auto log = fixture.open();
  try {
    auto second = fixture.open();
    FAIL("two writers");
  } catch (const keyservice::Error& e) {
    CHECK(e.kind() == keyservice::ErrorKind::conflict);
  }
  log.reset();
  CHECK_NOTHROW(fixture.open());  // the lock goes with the writer
}

TEST_CASE("log: entries and proofs served from memory follow every new checkpoint", "[hsm][log]") {
  LogFixture fixture;
  auto log = fixture.open();
  std::vector<std::string> data;
  audit::Checkpoint first;
  for (int round = 0; round < 4; ++round) {
    std::vector<std::future<Receipt>> futures;
    for (int i = 0; i < 5; ++i) {
      data.push_back(entry(static_cast<int>(data.size())));
      futures.push_back(log->append(data.back()));
    }
    for (auto& future : futures) future.get();
    const auto head = log->signed_head();
    REQUIRE(head);
    CHECK(head->note == log->checkpoint());
    const audit::Checkpoint checkpoint = open_note(*log, head->note);
    REQUIRE(checkpoint.size == data.size());
    // Twice each: the second answer comes from memory and must still verify against this root.
    for (int pass = 0; pass < 2; ++pass) {
      for (std::uint64_t index = 0; index < data.size(); ++index) {
        CHECK(log->entry(index) == data[index]);
        CHECK_NOTHROW(audit::verify_inclusion(index, checkpoint.size, audit::leaf_hash(data[index]),
                                              log->inclusion_proof(index, checkpoint.size), checkpoint.root));
      }
    }
    // An older size is answered apart from the newest-size proofs kept in memory, and verifies.
    if (round == 0) first = checkpoint;
    CHECK_NOTHROW(audit::verify_inclusion(2, first.size, audit::leaf_hash(data[2]), log->inclusion_proof(2, first.size),
                                          first.root));
  }
  CHECK_THROWS_AS(log->entry(data.size()), keyservice::Error);
}

TEST_CASE("log: the entry and proof caches stay within their byte bounds", "[hsm][log]") {
  LogFixture fixture;
  TransparencyLog::Options options;
  options.entry_cache_bytes = 16 * 1024;
  options.proof_cache_bytes = 4 * 1024;
  auto log = fixture.open(options);
  // Entries of sizes from a few bytes to about 2 KiB, so a count bound would not hold the bytes.
  std::vector<std::string> data;
  std::vector<std::future<Receipt>> futures;
  for (int i = 0; i < 120; ++i) {
    data.push_back(entry(i) + std::string(static_cast<std::size_t>((i * 397) % 2000), ' '));
    futures.push_back(log->append(data.back()));
  }
  for (auto& future : futures) future.get();
  const audit::Checkpoint checkpoint = open_note(*log, log->checkpoint());
  REQUIRE(checkpoint.size == data.size());

  std::size_t most_entries = 0, most_proofs = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (std::uint64_t index = 0; index < data.size(); ++index) {
      CHECK(log->entry(index) == data[index]);
      CHECK_NOTHROW(audit::verify_inclusion(index, checkpoint.size, audit::leaf_hash(data[index]),
                                            log->inclusion_proof(index, checkpoint.size), checkpoint.root));
      const TransparencyLog::CacheStats stats = log->cache_stats();
      CHECK(stats.entries >= 1);
      CHECK(stats.entry_bytes <= options.entry_cache_bytes);
      CHECK(stats.entry_bytes >= stats.entries * 64);
      CHECK(stats.proofs >= 1);
      CHECK(stats.proof_bytes <= options.proof_cache_bytes);
      most_entries = std::max(most_entries, stats.entries);
      most_proofs = std::max(most_proofs, stats.proofs);
    }
  }
  // The caches were used and emptied on the way (120 entries of 1 KiB on average pass 16 KiB).
  CHECK(most_entries > 5);
  CHECK(most_entries < data.size());
  CHECK(most_proofs > 5);
  CHECK(most_proofs < data.size());

  // An entry larger than the whole bound is served, not kept.
  const std::string large = entry(1000) + std::string(options.entry_cache_bytes, ' ');
  const Receipt receipt = log->append(large).get();
  const TransparencyLog::CacheStats before = log->cache_stats();
  CHECK(log->entry(receipt.index) == large);
  CHECK(log->cache_stats().entries == before.entries);
  CHECK(log->cache_stats().entry_bytes == before.entry_bytes);
}
