// What only the PostgreSQL device store has: schema versions, the refusal of a password in the
// connection string, and several store instances (as on several nodes) sharing one database:
// each one-time key handed out once across them, and a revocation or an upload through one
// honoured by the others' next call, whatever their caches hold. The store's behaviour itself is
// tested on both backends by the [store] tests (device_store_test.cc).
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <latch>
#include <set>
#include <thread>
#include <vector>

#include "audit/hash.h"
#include "audit/key_algorithm.h"
#include "keyservice/error.h"
#include "keyservice/store/postgres_device_store.h"
#include "keyservice/store/postgresql.h"
#include "tests/support/test_postgresql.h"

using namespace escrowless;
using keyservice::ErrorKind;
using keyservice::PostgresDeviceStore;
using keyservice::PrekeyKind;
using testing::TestDatabase;

namespace {

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const keyservice::Error& e) {
    INFO(e.what());
    return e.kind();
  }
  FAIL("no error");
  return ErrorKind::internal;
}

keyservice::Device make_device(const std::string& device, std::uint64_t index) {
  keyservice::Device d;
  d.account = "alice";
  d.device = device;
  d.token_key_id = {0x10, static_cast<std::uint8_t>(index)};
  const audit::Hash seed = audit::sha256("identity " + device);
  d.public_key.assign(seed.begin(), seed.end());
  d.public_key_sha256 = audit::public_key_sha256(audit::KeyAlgorithm::ed25519, d.public_key);
  d.enrolled_index = index;
  d.enrolled_time = audit::EntryTime(std::chrono::milliseconds(1'800'000'000'000 + index));
  return d;
}

audit::Hash credential(const std::string& device) { return audit::sha256("credential " + device); }

// A signed prekey and `count` X25519 one-time keys with ids from `first`.
keyservice::PrekeyUpload upload(std::uint64_t log_index, std::uint32_t first, std::uint32_t count) {
  keyservice::PrekeyUpload u;
  u.log_index = log_index;
  const auto key = [&](PrekeyKind kind, std::uint32_t id) {
    audit::SignedPrekey k;
    k.key_id = id;
    k.public_key.assign(audit::prekey_size(kind), static_cast<std::uint8_t>(id + log_index));
    k.signature.assign(audit::kPrekeySignatureSize, static_cast<std::uint8_t>(id));
    return k;
  };
  u.signed_prekey = key(PrekeyKind::signed_prekey, static_cast<std::uint32_t>(log_index));
  u.one_time_prekeys.emplace();
  for (std::uint32_t i = 0; i < count; ++i) u.one_time_prekeys->push_back(key(PrekeyKind::one_time_prekey, first + i));
  return u;
}

}  // namespace

TEST_CASE("postgresql devices: a new schema is versioned and a newer one refused", "[postgresql]") {
  TestDatabase database;
  CHECK(kind_of([&] { PostgresDeviceStore::open(database.conninfo(), false); }) == ErrorKind::not_found);
  PostgresDeviceStore::open(database.conninfo(), true);
  {
    auto db = keyservice::postgresql::Connection::open(database.conninfo());
    CHECK(db.query("SELECT version FROM schema_version WHERE component = 'devices'").int32(0, 0) ==
          PostgresDeviceStore::kSchemaVersion);
  }
  CHECK_NOTHROW(PostgresDeviceStore::open(database.conninfo(), false));
  database.exec("UPDATE schema_version SET version = version + 1 WHERE component = 'devices'");
  for (const bool create : {false, true}) {
    try {
      PostgresDeviceStore::open(database.conninfo(), create);
      FAIL("opened a newer schema");
    } catch (const keyservice::Error& e) {
      CHECK(e.kind() == ErrorKind::conflict);
      CHECK_THAT(e.what(), Catch::Matchers::Contains("newer than this build"));
    }
  }
}

TEST_CASE("postgresql devices: a password in the connection string is refused and never echoed", "[postgresql]") {
  for (const std::string conninfo : {"host=127.0.0.1 password=hunter2-secret dbname=x",
                                     "postgresql://escrowless:hunter2-secret@127.0.0.1/x"}) {
    try {
      PostgresDeviceStore::open(conninfo, true);
      FAIL("accepted a password");
    } catch (const keyservice::Error& e) {
      CHECK(e.kind() == ErrorKind::invalid_input);
      CHECK_THAT(e.what(), !Catch::Matchers::Contains("hunter2"));
    }
  }
}

TEST_CASE("postgresql devices: two stores on one database hand each one-time key out once", "[postgresql]") {
  TestDatabase database;
  auto first = PostgresDeviceStore::open(database.conninfo(), true);
  auto second = PostgresDeviceStore::open(database.conninfo(), false);
  constexpr int kDevices = 3;
  constexpr std::uint32_t kKeys = 100;
  for (int d = 0; d < kDevices; ++d) {
    const std::string name = "d" + std::to_string(d);
    first->add_device(make_device(name, 1 + 10 * d), credential(name));
    first->store_prekeys("alice", name, upload(2 + 10 * d, 1000, kKeys));
  }
  // Threads on both stores take bundles (claims ahead, group commit, refills) and single keys
  // (claims of one) until every list is empty.
  constexpr int kThreads = 6;
  std::latch start(kThreads);
  std::vector<std::vector<std::pair<int, std::uint32_t>>> got(kThreads);
  std::vector<std::exception_ptr> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        PostgresDeviceStore& store = t % 2 == 0 ? *first : *second;
        start.arrive_and_wait();
        for (int round = 0; round < 200; ++round) {
          const int d = (t + round) % kDevices;
          const std::string name = "d" + std::to_string(d);
          std::optional<keyservice::StoredPrekey> key;
          if (t < 4) {
            key = store.take_bundle("alice", name, credential(name)).claimed.one_time;
          } else {
            key = store.claim_one_time_prekey("alice", name, PrekeyKind::one_time_prekey);
          }
          if (key) got[t].emplace_back(d, key->key.key_id);
        }
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  std::set<std::pair<int, std::uint32_t>> seen;
  for (const auto& keys : got) {
    for (const auto& key : keys) {
      INFO("device " << key.first << " key " << key.second);
      CHECK(seen.insert(key).second);  // never twice
    }
  }
  // What was handed out, what the stores still hold claimed ahead, and what is left unclaimed
  // add up to the uploads: no key vanished either (the stores are still open).
  std::uint64_t left = 0;
  for (int d = 0; d < kDevices; ++d) {
    const std::string name = "d" + std::to_string(d);
    left += first->count_one_time_prekeys("alice", name).one_time + second->count_one_time_prekeys("alice", name).one_time;
  }
  // Each store counts the unclaimed keys in the database once: subtract the double count.
  auto db = keyservice::postgresql::Connection::open(database.conninfo());
  const auto unclaimed = static_cast<std::uint64_t>(
      db.query("SELECT count(*) FROM prekeys p JOIN one_time_lists l ON l.device_id = p.device_id AND l.kind = p.kind "
               "WHERE p.key_id >= l.next_key_id")
          .int64(0, 0));
  CHECK(seen.size() + left - unclaimed == kDevices * kKeys);
  CHECK(seen.size() > 0);
}

TEST_CASE("postgresql devices: a revocation or upload through one store is honoured by the other",
          "[postgresql]") {
  TestDatabase database;
  auto writer = PostgresDeviceStore::open(database.conninfo(), true);
  auto reader = PostgresDeviceStore::open(database.conninfo(), false);
  writer->add_device(make_device("phone", 1), credential("phone"));
  writer->store_prekeys("alice", "phone", upload(2, 1000, 50));

  // The reader's caches fill: the current prekeys, and one-time keys claimed ahead.
  const auto bundle = reader->take_bundle("alice", "phone", credential("phone"));
  REQUIRE(bundle.claimed.one_time);
  CHECK(bundle.claimed.one_time->log_index == 2);
  REQUIRE(reader->count_one_time_prekeys("alice", "phone").one_time == 49);

  SECTION("an upload replaces the list the other store claimed ahead from") {
    writer->store_prekeys("alice", "phone", upload(3, 5000, 10));
    const auto after = reader->take_bundle("alice", "phone", credential("phone"));
    REQUIRE(after.current.signed_prekey);
    CHECK(after.current.signed_prekey->log_index == 3);
    REQUIRE(after.claimed.one_time);
    CHECK(after.claimed.one_time->log_index == 3);  // never a key of the replaced list
    CHECK(after.claimed.one_time->key.key_id == 5000);
  }
  SECTION("a revocation") {
    writer->revoke_device("alice", "phone", {4, audit::EntryTime(std::chrono::milliseconds(1'800'000'000'004))});
    CHECK(kind_of([&] { reader->take_bundle("alice", "phone", credential("phone")); }) == ErrorKind::unauthenticated);
    CHECK(kind_of([&] { reader->take_bundle("alice", "phone", std::nullopt); }) == ErrorKind::conflict);
    CHECK_FALSE(reader->find_device_by_credential(credential("phone")).has_value());
    const auto found = reader->find_device("alice", "phone");
    REQUIRE(found);
    CHECK_FALSE(found->is_active());
    CHECK(kind_of([&] { reader->claim_one_time_prekey("alice", "phone", PrekeyKind::one_time_prekey); }) ==
          ErrorKind::conflict);
  }
}
