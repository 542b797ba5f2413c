#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "audit/encoding.h"
#include "audit/merkle.h"
#include "audit/prekey_batch.h"
#include "audit/proof_verify.h"
#include "keyservice/error.h"
#include "keyservice/store/sqlite.h"
#include "keyservice/store/postgres_device_store.h"
#include "keyservice/store/postgresql.h"
#include "keyservice/store/sqlite_device_store.h"
#include "tests/keyservice/log_fixture.h"
#include "tests/support/test_token.h"

using namespace escrowless;
using keyservice::CurrentPrekeys;
using keyservice::Device;
using keyservice::ErrorKind;
using keyservice::OneTimePrekeyCounts;
using keyservice::PrekeyKind;
using keyservice::PrekeyUpload;
using keyservice::Revocation;
using keyservice::ClaimingDeviceStore;
using keyservice::SqliteDeviceStore;
using keyservice::StoredPrekey;

namespace {

constexpr PrekeyKind kOneTime = PrekeyKind::one_time_prekey;
constexpr PrekeyKind kPqOneTime = PrekeyKind::pq_one_time_prekey;

// A fresh device store in the backend this process tests (testing_postgresql(), log_fixture.h):
// devices.db in a temporary folder, or a fresh database of the run's PostgreSQL server.
struct Fixture {
  explicit Fixture(std::size_t max_reserved_bytes = SqliteDeviceStore::kMaxReservedBytes)
      : store(open(true, max_reserved_bytes)) {}

  // Another store on the same database (as another process or node would open it).
  std::unique_ptr<ClaimingDeviceStore> open(bool create = false,
                                            std::size_t max_reserved_bytes = SqliteDeviceStore::kMaxReservedBytes) {
    if (postgres) return keyservice::PostgresDeviceStore::open(postgres->conninfo(), create, max_reserved_bytes);
    return SqliteDeviceStore::open(path, create, max_reserved_bytes);
  }

  // Rows in a table: what the store deletes must be gone, not merely hidden.
  std::int64_t rows(const std::string& table) { return count("SELECT count(*) FROM " + table); }
  // Prekeys not claimed: current keys, and one-time keys at or past their list's claim cursor
  // (claimed ones stay as rows, below it, until the list is replaced).
  std::int64_t unclaimed_prekeys() {
    return count(
        "SELECT count(*) FROM prekeys p LEFT JOIN one_time_lists c ON c.device_id = p.device_id AND "
        "c.kind = p.kind WHERE p.key_id >= coalesce(c.next_key_id, 0)");
  }
  std::int64_t count(const std::string& sql) {
    if (postgres) {
      auto db = keyservice::postgresql::Connection::open(postgres->conninfo());
      return db.query(sql).int64(0, 0);
    }
    auto db = keyservice::sqlite::Database::open(path, false);
    auto statement = db.prepare(sql);
    statement.step();
    return statement.column_int(0);
  }

  testing::TempDir dir;
  std::string path = (dir.path() / "devices.db").string();
  std::optional<testing::TestDatabase> postgres =
      testing::testing_postgresql() ? std::make_optional<testing::TestDatabase>() : std::nullopt;
  std::unique_ptr<ClaimingDeviceStore> store;
};

audit::EntryTime time_at(std::uint64_t index) {
  return audit::EntryTime(std::chrono::milliseconds(1'800'000'000'000 + 1000 * index));
}

// The generator of P-256, a valid uncompressed point.
std::vector<std::uint8_t> p256_point() {
  return audit::hex_decode(
      "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
      "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
}

Device make_device(const std::string& account, const std::string& device, std::uint64_t index,
                   audit::KeyAlgorithm algorithm = audit::KeyAlgorithm::ed25519) {
  Device d;
  d.account = account;
  d.device = device;
  d.algorithm = algorithm;
  d.token_key_id = {0x10, 0x20, static_cast<std::uint8_t>(index)};
  if (algorithm == audit::KeyAlgorithm::ed25519) {
    const audit::Hash seed = audit::sha256("identity " + account + "/" + device);
    d.public_key.assign(seed.begin(), seed.end());
  } else {
    d.public_key = p256_point();
  }
  d.public_key_sha256 = audit::public_key_sha256(algorithm, d.public_key);
  d.enrolled_index = index;
  d.enrolled_time = time_at(index);
  return d;
}

audit::Hash credential_hash(const std::string& name) { return audit::sha256("credential " + name); }

audit::SignedPrekey make_key(PrekeyKind kind, std::uint32_t key_id, std::uint8_t salt = 0) {
  audit::SignedPrekey key;
  key.key_id = key_id;
  key.public_key.resize(audit::prekey_size(kind));
  for (std::size_t i = 0; i < key.public_key.size(); ++i) {
    key.public_key[i] = static_cast<std::uint8_t>(key_id * 7 + i + salt + static_cast<int>(kind));
  }
  key.signature.assign(audit::kPrekeySignatureSize, static_cast<std::uint8_t>(key_id + salt));
  return key;
}

using Batch = std::vector<audit::SignedPrekey>;

Batch make_batch(PrekeyKind kind, std::uint32_t first_id, std::uint32_t count,
                 std::uint8_t salt = 0) {
  Batch batch;
  for (std::uint32_t i = 0; i < count; ++i) batch.push_back(make_key(kind, first_id + i, salt));
  return batch;
}

// The batch's leaf hashes, built here from the keys with the protocol's leaf format.
std::vector<audit::Hash> leaf_hashes(PrekeyKind kind, const Batch& batch) {
  std::vector<audit::Hash> hashes;
  for (const auto& key : batch) {
    hashes.push_back(
        audit::prekey_batch_leaf_hash(kind, key.key_id, key.public_key, key.signature));
  }
  return hashes;
}

PrekeyUpload full_upload(std::uint64_t log_index, std::uint32_t one_time,
                         std::uint32_t pq_one_time) {
  PrekeyUpload upload;
  upload.log_index = log_index;
  upload.signed_prekey = make_key(PrekeyKind::signed_prekey, 1);
  upload.pq_last_resort_prekey = make_key(PrekeyKind::pq_last_resort_prekey, 2);
  if (one_time > 0) upload.one_time_prekeys = make_batch(kOneTime, 100, one_time);
  if (pq_one_time > 0) upload.pq_one_time_prekeys = make_batch(kPqOneTime, 500, pq_one_time);
  return upload;
}

// The kind and message of the keyservice::Error that f throws; nullopt if it throws none.
struct Failure {
  ErrorKind kind;
  std::string message;
};

std::optional<Failure> failure_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const keyservice::Error& e) {
    return Failure{e.kind(), e.what()};
  }
  return std::nullopt;
}

std::optional<ErrorKind> kind_of(const std::function<void()>& f) {
  const auto failure = failure_of(f);
  return failure ? std::optional(failure->kind) : std::nullopt;
}

// The claimed key is one the test uploaded, and its batch data leads to the batch's root the way
// a client checks it.
void check_claimed(const StoredPrekey& claimed, const Batch& uploaded, std::uint64_t log_index) {
  REQUIRE(claimed.batch.has_value());
  const auto& batch = *claimed.batch;
  CHECK(claimed.log_index == log_index);
  const std::vector<audit::Hash> leaves = leaf_hashes(claimed.kind, uploaded);
  CHECK(batch.leaves() == leaves);
  REQUIRE(batch.index < uploaded.size());
  CHECK(claimed.key == uploaded[batch.index]);
  const audit::Hash root = audit::root_of(leaves);
  CHECK(batch.root() == root);
  const std::vector<audit::Hash> path = batch.path();
  CHECK_NOTHROW(
      audit::verify_inclusion(batch.index, batch.count(), leaves[batch.index], path, root));
  std::vector<audit::PrekeyBatchItem> items;
  for (const auto& key : uploaded) {
    items.push_back({claimed.kind, key.key_id, key.public_key, key.signature});
  }
  CHECK(audit::prekey_batch_root(items) == root);
  CHECK(audit::prekey_batch_proof(items, batch.index) == path);
  CHECK_NOTHROW(audit::verify_prekey_in_batch(claimed.kind, claimed.key.key_id,
                                              claimed.key.public_key, claimed.key.signature,
                                              batch.index, batch.count(), path, root));
}

}  // namespace

TEST_CASE("device store: devices are added and found", "[unit][store]") {
  Fixture f;
  const Device phone = make_device("alice", "phone", 3);
  const Device laptop = make_device("alice", "laptop", 5, audit::KeyAlgorithm::ecdsa_p256);
  const Device other = make_device("bob", "phone", 4);
  f.store->add_device(phone, credential_hash("alice/phone"));
  f.store->add_device(other, credential_hash("bob/phone"));
  f.store->add_device(laptop, credential_hash("alice/laptop"));

  CHECK(f.store->find_device("alice", "phone") == phone);
  CHECK(f.store->find_device("alice", "laptop") == laptop);
  CHECK(f.store->find_device("bob", "phone") == other);
  CHECK(f.store->find_device("alice", "tablet") == std::nullopt);
  CHECK(f.store->find_device("carol", "phone") == std::nullopt);

  CHECK(f.store->list_devices("alice") == std::vector{phone, laptop});  // log order
  CHECK(f.store->list_devices("bob") == std::vector{other});
  CHECK(f.store->list_devices("carol").empty());
  CHECK(f.store->count_active_devices("alice") == 2);
  CHECK(f.store->count_active_devices("carol") == 0);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{});
  CHECK(f.store->current_prekeys("alice", "phone") == CurrentPrekeys{});
}

TEST_CASE("device store: a device is found by its credential hash", "[unit][store]") {
  Fixture f;
  const Device phone = make_device("alice", "phone", 1);
  f.store->add_device(phone, credential_hash("alice/phone"));
  f.store->add_device(make_device("bob", "phone", 2), credential_hash("bob/phone"));

  CHECK(f.store->find_device_by_credential(credential_hash("alice/phone")) == phone);
  CHECK(f.store->find_device_by_credential(credential_hash("bob/phone"))->account == "bob");
  CHECK(f.store->find_device_by_credential(credential_hash("mallory")) == std::nullopt);

  const audit::Hash hash = credential_hash("alice/phone");
  const auto short_hash = std::span(hash).first(31);
  CHECK(kind_of([&] { f.store->find_device_by_credential(short_hash); }) ==
        ErrorKind::invalid_input);
}

TEST_CASE("device store: an existing device or credential is a conflict", "[unit][store]") {
  Fixture f;
  const audit::Hash credential = credential_hash("alice/phone");
  f.store->add_device(make_device("alice", "phone", 1), credential);

  // The same ids, even with another key and credential.
  CHECK(kind_of([&] {
          f.store->add_device(make_device("alice", "phone", 2), credential_hash("x"));
        }) == ErrorKind::conflict);
  // Another device enrolled by the same log entry.
  CHECK(kind_of([&] {
          f.store->add_device(make_device("alice", "tablet", 1), credential_hash("y"));
        }) == ErrorKind::conflict);
  // Another device with the same credential hash; the message names neither value.
  const auto failure =
      failure_of([&] { f.store->add_device(make_device("alice", "tablet", 2), credential); });
  REQUIRE(failure);
  CHECK(failure->kind == ErrorKind::conflict);
  CHECK(failure->message.find(audit::to_hex(credential)) == std::string::npos);
  CHECK(failure->message.find(audit::to_base64(credential)) == std::string::npos);
  CHECK(failure->message.find(std::string(credential.begin(), credential.end())) ==
        std::string::npos);

  CHECK(f.store->list_devices("alice").size() == 1);
  CHECK(f.store->find_device("alice", "tablet") == std::nullopt);
}

TEST_CASE("device store: malformed devices and ids are refused", "[unit][store]") {
  Fixture f;
  auto refused = [&](const Device& device) {
    return kind_of([&] { f.store->add_device(device, credential_hash("c")); }) ==
           ErrorKind::invalid_input;
  };
  Device d = make_device("alice", "phone", 1);
  d.account = "";
  CHECK(refused(d));
  d.account = std::string(65, 'a');
  CHECK(refused(d));
  d = make_device("alice", "phone", 1);
  d.device = "pho ne";
  CHECK(refused(d));
  d = make_device("alice", "phone", 1);
  d.token_key_id.clear();
  CHECK(refused(d));
  d.token_key_id.assign(65, 1);
  CHECK(refused(d));
  d = make_device("alice", "phone", 1);
  d.public_key.pop_back();
  CHECK(refused(d));
  d = make_device("alice", "phone", 1);
  d.public_key_sha256[0] ^= 1;
  CHECK(refused(d));
  d = make_device("alice", "phone", 1, audit::KeyAlgorithm::ecdsa_p256);
  d.public_key[64] ^= 1;  // off the curve
  CHECK(refused(d));
  d = make_device("alice", "phone", 1);
  d.revocation = Revocation{2, time_at(2)};
  CHECK(refused(d));
  d = make_device("alice", "phone", 1);
  d.enrolled_index = std::uint64_t{1} << 63;
  CHECK(refused(d));
  CHECK(f.store->list_devices("alice").empty());

  CHECK(kind_of([&] { f.store->find_device("alice", "a/b"); }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] { f.store->find_device("", "phone"); }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] { f.store->list_devices("al ice"); }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] { f.store->count_active_devices(std::string(65, 'x')); }) ==
        ErrorKind::invalid_input);
  CHECK(kind_of([&] { f.store->count_one_time_prekeys("alice", ""); }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] { f.store->claim_one_time_prekey("alice", "ph\none", kOneTime); }) ==
        ErrorKind::invalid_input);
}

TEST_CASE("device store: revocation invalidates the credential and deletes the prekeys", "[unit][store]") {
  Fixture f;
  const Device phone = make_device("alice", "phone", 1);
  f.store->add_device(phone, credential_hash("alice/phone"));
  f.store->add_device(make_device("alice", "laptop", 2), credential_hash("alice/laptop"));
  f.store->store_prekeys("alice", "phone", full_upload(3, 10, 5));

  f.store->revoke_device("alice", "phone", Revocation{7, time_at(7)});

  Device revoked = phone;
  revoked.revocation = Revocation{7, time_at(7)};
  CHECK(f.store->find_device("alice", "phone") == revoked);
  CHECK_FALSE(f.store->find_device("alice", "phone")->is_active());
  CHECK(f.store->find_device_by_credential(credential_hash("alice/phone")) == std::nullopt);
  CHECK(f.store->find_device_by_credential(credential_hash("alice/laptop")).has_value());
  CHECK(f.store->count_active_devices("alice") == 1);
  CHECK(f.store->list_devices("alice").size() == 2);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{});
  CHECK(f.store->current_prekeys("alice", "phone") == CurrentPrekeys{});
  CHECK(f.rows("credentials") == 1);  // the laptop's
  CHECK(f.rows("prekeys") == 0);
  CHECK(f.rows("prekey_batches") == 0);
  CHECK(f.rows("one_time_lists") == 0);

  CHECK(kind_of([&] {
          f.store->revoke_device("alice", "phone", Revocation{8, time_at(8)});
        }) == ErrorKind::conflict);
  CHECK(kind_of([&] {
          f.store->revoke_device("alice", "tablet", Revocation{8, time_at(8)});
        }) == ErrorKind::not_found);
  CHECK(kind_of([&] { f.store->store_prekeys("alice", "phone", full_upload(9, 1, 1)); }) ==
        ErrorKind::conflict);
  CHECK(kind_of([&] { f.store->claim_one_time_prekey("alice", "phone", kOneTime); }) ==
        ErrorKind::conflict);
  // A revocation must come after the enrollment in the log.
  CHECK(kind_of([&] {
          f.store->revoke_device("alice", "laptop", Revocation{2, time_at(2)});
        }) == ErrorKind::invalid_input);
  CHECK(f.store->find_device("alice", "laptop")->is_active());
  // The revoked device's ids and credential stay taken.
  CHECK(kind_of([&] {
          f.store->add_device(make_device("alice", "phone", 10), credential_hash("n"));
        }) == ErrorKind::conflict);
}

TEST_CASE("device store: stored prekeys come back as current and one-time prekeys", "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  const PrekeyUpload upload = full_upload(4, 10, 3);
  f.store->store_prekeys("alice", "phone", upload);

  const CurrentPrekeys current = f.store->current_prekeys("alice", "phone");
  REQUIRE(current.signed_prekey);
  CHECK(current.signed_prekey->kind == PrekeyKind::signed_prekey);
  CHECK(current.signed_prekey->key == *upload.signed_prekey);
  CHECK(current.signed_prekey->log_index == 4);
  CHECK_FALSE(current.signed_prekey->batch.has_value());
  REQUIRE(current.pq_last_resort_prekey);
  CHECK(current.pq_last_resort_prekey->kind == PrekeyKind::pq_last_resort_prekey);
  CHECK(current.pq_last_resort_prekey->key == *upload.pq_last_resort_prekey);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{10, 3});
  CHECK(kind_of([&] { f.store->current_prekeys("alice", "tablet"); }) == ErrorKind::not_found);
  CHECK(kind_of([&] { f.store->count_one_time_prekeys("bob", "phone"); }) == ErrorKind::not_found);
}

TEST_CASE("device store: one-time prekeys are claimed once each and lowest key id first",
          "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  PrekeyUpload upload;
  upload.log_index = 2;
  upload.one_time_prekeys = make_batch(kOneTime, 0, 5);
  std::reverse(upload.one_time_prekeys->begin(), upload.one_time_prekeys->end());
  upload.pq_one_time_prekeys = make_batch(kPqOneTime, 40, 2);
  f.store->store_prekeys("alice", "phone", upload);

  for (std::uint32_t id = 0; id < 5; ++id) {
    const auto claimed = f.store->claim_one_time_prekey("alice", "phone", kOneTime);
    REQUIRE(claimed);
    CHECK(claimed->kind == kOneTime);
    CHECK(claimed->key.key_id == id);
    CHECK(claimed->batch->index == 4 - id);  // uploaded in reverse order
    check_claimed(*claimed, *upload.one_time_prekeys, 2);
    CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{4 - id, 2});
  }
  CHECK(f.store->claim_one_time_prekey("alice", "phone", kOneTime) == std::nullopt);
  CHECK(f.store->claim_one_time_prekey("alice", "phone", kOneTime) == std::nullopt);
  CHECK(f.unclaimed_prekeys() == 2);  // the ML-KEM ones
  CHECK(f.rows("prekey_batches") == 2);  // a batch stays until its list is replaced

  const auto pq = f.store->claim_one_time_prekey("alice", "phone", kPqOneTime);
  REQUIRE(pq);
  CHECK(pq->key.key_id == 40);
  check_claimed(*pq, *upload.pq_one_time_prekeys, 2);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{0, 1});

  CHECK(kind_of([&] {
          f.store->claim_one_time_prekey("alice", "phone", PrekeyKind::signed_prekey);
        }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] {
          f.store->claim_one_time_prekey("alice", "phone", PrekeyKind::pq_last_resort_prekey);
        }) == ErrorKind::invalid_input);
  CHECK(kind_of([&] { f.store->claim_one_time_prekey("alice", "tablet", kOneTime); }) ==
        ErrorKind::not_found);
}

TEST_CASE("device store: a bundle takes the device, its current prekeys and one key of each kind",
          "[unit][store]") {
  Fixture f;
  const Device phone = make_device("alice", "phone", 1);
  f.store->add_device(phone, credential_hash("alice/phone"));
  f.store->add_device(make_device("alice", "tablet", 2), credential_hash("alice/tablet"));

  // No prekeys yet: the device alone, nothing claimed.
  auto material = f.store->take_bundle("alice", "phone", std::nullopt);
  CHECK(material.device == phone);
  CHECK(material.current == CurrentPrekeys{});
  CHECK_FALSE(material.claimed.one_time);
  CHECK_FALSE(material.claimed.pq_one_time);

  const PrekeyUpload upload = full_upload(4, 2, 1);
  f.store->store_prekeys("alice", "phone", upload);
  material = f.store->take_bundle("alice", "phone", std::nullopt);
  CHECK(material.current == f.store->current_prekeys("alice", "phone"));
  REQUIRE(material.current.signed_prekey);
  REQUIRE(material.claimed.one_time);
  REQUIRE(material.claimed.pq_one_time);
  check_claimed(*material.claimed.one_time, *upload.one_time_prekeys, 4);
  check_claimed(*material.claimed.pq_one_time, *upload.pq_one_time_prekeys, 4);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{1, 0});

  // The last X25519 key; the ML-KEM list is empty now.
  material = f.store->take_bundle("alice", "phone", std::nullopt);
  REQUIRE(material.claimed.one_time);
  CHECK_FALSE(material.claimed.pq_one_time);
  CHECK(material.current.pq_last_resort_prekey);
  material = f.store->take_bundle("alice", "phone", std::nullopt);
  CHECK_FALSE(material.claimed.one_time);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{0, 0});

  CHECK(kind_of([&] { f.store->take_bundle("alice", "watch", std::nullopt); }) == ErrorKind::not_found);
  CHECK(kind_of([&] { f.store->take_bundle("alice", "bad id!", std::nullopt); }) == ErrorKind::invalid_input);
  f.store->revoke_device("alice", "tablet", Revocation{5, time_at(5)});
  CHECK(kind_of([&] { f.store->take_bundle("alice", "tablet", std::nullopt); }) == ErrorKind::conflict);
}

TEST_CASE("device store: a bundle for a reader checks its credential before anything else", "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  f.store->add_device(make_device("bob", "laptop", 2), credential_hash("bob/laptop"));
  f.store->add_device(make_device("bob", "tablet", 3), credential_hash("bob/tablet"));
  f.store->store_prekeys("alice", "phone", full_upload(4, 3, 0));
  f.store->revoke_device("bob", "tablet", Revocation{5, time_at(5)});

  // Any active device's credential, of any account, reads the bundle and gets a key.
  const auto material = f.store->take_bundle("alice", "phone", credential_hash("bob/laptop"));
  REQUIRE(material.claimed.one_time);
  CHECK(material.claimed.one_time->key.key_id == 100);
  CHECK(material.current.signed_prekey);

  // An unknown or revoked device's credential takes nothing, and learns nothing of the device:
  // unauthenticated whether it exists, is revoked or is missing.
  for (const char* reader : {"nobody", "bob/tablet"}) {
    INFO(reader);
    for (const char* device : {"phone", "watch"}) {
      CHECK(kind_of([&] { f.store->take_bundle("alice", device, credential_hash(reader)); }) ==
            ErrorKind::unauthenticated);
    }
    CHECK(kind_of([&] { f.store->take_bundle("bob", "tablet", credential_hash(reader)); }) ==
          ErrorKind::unauthenticated);
  }
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{2, 0});
  // A valid reader gets the errors of the device itself.
  CHECK(kind_of([&] { f.store->take_bundle("alice", "watch", credential_hash("alice/phone")); }) ==
        ErrorKind::not_found);
  CHECK(kind_of([&] { f.store->take_bundle("bob", "tablet", credential_hash("alice/phone")); }) ==
        ErrorKind::conflict);
  CHECK(f.store->take_bundle("alice", "phone", credential_hash("alice/phone")).claimed.one_time->key.key_id == 101);
}

TEST_CASE("device store: keys claimed ahead for bundles go out once each and in key id order",
          "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  PrekeyUpload upload;
  upload.log_index = 2;
  upload.one_time_prekeys = make_batch(kOneTime, 0, 100);
  f.store->store_prekeys("alice", "phone", upload);

  // More than one claim-ahead block: every key once, lowest id first, the count exact throughout.
  for (std::uint32_t id = 0; id < 70; ++id) {
    const auto material = f.store->take_bundle("alice", "phone", std::nullopt);
    REQUIRE(material.claimed.one_time);
    CHECK(material.claimed.one_time->key.key_id == id);
    check_claimed(*material.claimed.one_time, *upload.one_time_prekeys, 2);
    CHECK(f.store->count_one_time_prekeys("alice", "phone").one_time == 99 - id);
  }
  // The database has what was claimed ahead as claimed: another store (a restarted process)
  // never hands those keys out; it only sees the keys no one has claimed.
  const std::int64_t in_database = f.unclaimed_prekeys();
  CHECK(in_database < 30);
  auto restarted = f.open();
  CHECK(restarted->count_one_time_prekeys("alice", "phone").one_time == static_cast<std::uint64_t>(in_database));
  for (std::int64_t i = 0; i < in_database; ++i) {
    const auto material = restarted->take_bundle("alice", "phone", std::nullopt);
    REQUIRE(material.claimed.one_time);
    CHECK(material.claimed.one_time->key.key_id >= 70);
  }
  CHECK_FALSE(restarted->take_bundle("alice", "phone", std::nullopt).claimed.one_time);
}

TEST_CASE("device store: a reserve running low is refilled before it runs out", "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  const PrekeyUpload upload = full_upload(2, 100, 0);
  f.store->store_prekeys("alice", "phone", upload);
  constexpr std::size_t kAhead = SqliteDeviceStore::kClaimAhead;
  constexpr std::size_t kLow = SqliteDeviceStore::kRefillAt;

  // The first bundle claims kAhead; taking all but kLow of them asks for a refill.
  std::uint32_t next_id = 100;
  for (std::size_t i = 0; i < kAhead - kLow; ++i) {
    const auto material = f.store->take_bundle("alice", "phone", std::nullopt);
    REQUIRE(material.claimed.one_time);
    CHECK(material.claimed.one_time->key.key_id == next_id++);
  }
  // The refiller claims the next kAhead in the background: the database loses them, the count
  // (database plus reserve) does not change.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (f.unclaimed_prekeys() > static_cast<std::int64_t>(2 + 100 - 2 * kAhead) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(f.unclaimed_prekeys() == static_cast<std::int64_t>(2 + 100 - 2 * kAhead));
  CHECK(f.store->count_one_time_prekeys("alice", "phone").one_time == 100 - (kAhead - kLow));
  // The rest go out once each, in key id order, refills included, and then none.
  while (const auto key = f.store->take_bundle("alice", "phone", std::nullopt).claimed.one_time) {
    CHECK(key->key.key_id == next_id++);
    check_claimed(*key, *upload.one_time_prekeys, 2);
  }
  CHECK(next_id == 200);
  CHECK(f.store->reserved_bytes() == 0);
}

TEST_CASE("device store: a bundle takes current prekeys another store replaced", "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  const PrekeyUpload first = full_upload(2, 0, 0);
  f.store->store_prekeys("alice", "phone", first);
  // Twice: the second is served from what the first read (same prekeys_index).
  for (int i = 0; i < 2; ++i) {
    const auto material = f.store->take_bundle("alice", "phone", std::nullopt);
    REQUIRE(material.current.signed_prekey);
    CHECK(material.current.signed_prekey->key == *first.signed_prekey);
    CHECK(material.current == f.store->current_prekeys("alice", "phone"));
  }
  auto other = f.open();
  PrekeyUpload second;
  second.log_index = 3;
  second.signed_prekey = make_key(PrekeyKind::signed_prekey, 77, 5);
  other->store_prekeys("alice", "phone", second);
  const auto material = f.store->take_bundle("alice", "phone", std::nullopt);
  REQUIRE(material.current.signed_prekey);
  CHECK(material.current.signed_prekey->key == *second.signed_prekey);
  CHECK(material.current.signed_prekey->log_index == 3);
  CHECK(material.current.pq_last_resort_prekey->key == *first.pq_last_resort_prekey);
  other->revoke_device("alice", "phone", Revocation{4, time_at(4)});
  CHECK(kind_of([&] { f.store->take_bundle("alice", "phone", std::nullopt); }) == ErrorKind::conflict);
}

TEST_CASE("device store: a store closed cleanly puts the keys claimed ahead back", "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  PrekeyUpload upload = full_upload(2, 10, 3);
  f.store->store_prekeys("alice", "phone", upload);
  const auto first = f.store->take_bundle("alice", "phone", std::nullopt);
  REQUIRE(first.claimed.one_time);
  REQUIRE(first.claimed.pq_one_time);
  CHECK(f.unclaimed_prekeys() < 2 + 10);  // claimed ahead: claimed in the database
  f.store.reset();

  f.store = f.open();
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{9, 2});
  std::set<std::uint32_t> ids;
  for (int i = 0; i < 9; ++i) {
    const auto material = f.store->take_bundle("alice", "phone", std::nullopt);
    REQUIRE(material.claimed.one_time);
    check_claimed(*material.claimed.one_time, *upload.one_time_prekeys, 2);  // batch path intact
    ids.insert(material.claimed.one_time->key.key_id);
  }
  CHECK(ids.size() == 9);
  CHECK(ids.count(first.claimed.one_time->key.key_id) == 0);  // the one handed out stays out
  CHECK_FALSE(f.store->take_bundle("alice", "phone", std::nullopt).claimed.one_time);
}

TEST_CASE("device store: a clean close gives back only keys no other store claimed after", "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  f.store->store_prekeys("alice", "phone", full_upload(2, 100, 0));  // key ids 100 to 199
  constexpr std::uint32_t kAhead = SqliteDeviceStore::kClaimAhead;
  constexpr std::uint32_t kLow = SqliteDeviceStore::kRefillAt;
  auto other = f.open();

  CHECK(f.store->take_bundle("alice", "phone", std::nullopt).claimed.one_time->key.key_id == 100);  // claims 100 to 131
  CHECK(other->take_bundle("alice", "phone", std::nullopt).claimed.one_time->key.key_id == 100 + kAhead);
  other.reset();  // gives back 133 to 163: no one claimed after it
  CHECK(f.unclaimed_prekeys() == 2 + 100 - kAhead - 1);

  // Taking all but kLow from the first claim makes f's refiller claim 133 to 164: a second run.
  for (std::uint32_t id = 101; id < 100 + kAhead - kLow; ++id) {
    CHECK(f.store->take_bundle("alice", "phone", std::nullopt).claimed.one_time->key.key_id == id);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (f.unclaimed_prekeys() > 2 + 100 - 2 * kAhead - 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(f.unclaimed_prekeys() == 2 + 100 - 2 * kAhead - 1);
  // f holds 124 to 131 (first run) and 133 to 164 (second). Only the second can go back: moving
  // the cursor to 124 would give back 132, which `other` handed out.
  f.store.reset();
  f.store = f.open();
  CHECK(f.store->count_one_time_prekeys("alice", "phone").one_time == 200 - (101 + kAhead));
  for (std::uint32_t id = 101 + kAhead; id < 200; ++id) {
    CHECK(f.store->take_bundle("alice", "phone", std::nullopt).claimed.one_time->key.key_id == id);
  }
  CHECK_FALSE(f.store->take_bundle("alice", "phone", std::nullopt).claimed.one_time);
}

TEST_CASE("device store: keys claimed ahead are bounded in memory across devices", "[unit][store]") {
  constexpr std::size_t kBound = 64 * 1024;
  Fixture f(kBound);
  auto& store = f.store;
  constexpr std::size_t kAhead = SqliteDeviceStore::kClaimAhead;
  constexpr int kDevices = 24;  // about 9 KB each claimed ahead: enough to pass the bound
  for (int d = 0; d < kDevices; ++d) {
    const std::string name = "d" + std::to_string(d);
    store->add_device(make_device("alice", name, static_cast<std::uint64_t>(1 + 2 * d)), credential_hash(name));
    PrekeyUpload upload;
    upload.log_index = static_cast<std::uint64_t>(2 + 2 * d);
    upload.one_time_prekeys = make_batch(kOneTime, 0, static_cast<std::uint32_t>(kAhead + 2));
    store->store_prekeys("alice", name, upload);
  }
  int one_at_a_time = 0;
  for (int d = 0; d < kDevices; ++d) {
    const std::int64_t rows_before = f.unclaimed_prekeys();
    const std::size_t bytes_before = store->reserved_bytes();
    REQUIRE(store->take_bundle("alice", "d" + std::to_string(d), std::nullopt).claimed.one_time);
    const std::int64_t claimed = rows_before - f.unclaimed_prekeys();
    const bool past_bound = bytes_before >= kBound;
    CHECK(claimed == (past_bound ? 1 : static_cast<std::int64_t>(kAhead)));
    if (past_bound) {
      ++one_at_a_time;
      CHECK(store->reserved_bytes() == bytes_before);  // nothing kept back
    } else {
      // 31 kept back: each X25519 key counted at its size and bookkeeping plus a share of its
      // batch's 34 leaf hashes (1088 bytes shared by 32 keys), not a copy of them.
      const std::size_t added = store->reserved_bytes() - bytes_before;
      CHECK(added > (kAhead - 1) * (32 + 64 + 1088 / kAhead));
      CHECK(added < (kAhead - 1) * 512);
    }
    CHECK(store->reserved_bytes() < kBound + kAhead * 512);
  }
  CHECK(one_at_a_time > 0);  // the bound was reached
  // Everything claimed ahead goes out once; then nothing is held.
  std::set<std::pair<int, std::uint32_t>> seen;
  for (int d = 0; d < kDevices; ++d) {
    while (auto key = store->take_bundle("alice", "d" + std::to_string(d), std::nullopt).claimed.one_time) {
      CHECK(seen.insert({d, key->key.key_id}).second);
    }
  }
  CHECK(store->reserved_bytes() == 0);
  CHECK(f.unclaimed_prekeys() == 0);
}

TEST_CASE("device store: a new list or a revocation drops the keys claimed ahead", "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  PrekeyUpload first;
  first.log_index = 2;
  first.one_time_prekeys = make_batch(kOneTime, 0, 10);
  first.pq_one_time_prekeys = make_batch(kPqOneTime, 0, 10);
  f.store->store_prekeys("alice", "phone", first);
  CHECK(f.store->take_bundle("alice", "phone", std::nullopt).claimed.one_time->key.key_id == 0);

  // A new X25519 list: its keys, never the old ones claimed ahead; the ML-KEM reserve stays.
  PrekeyUpload second;
  second.log_index = 3;
  second.one_time_prekeys = make_batch(kOneTime, 100, 3);
  f.store->store_prekeys("alice", "phone", second);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{3, 9});
  const auto material = f.store->take_bundle("alice", "phone", std::nullopt);
  CHECK(material.claimed.one_time->key.key_id == 100);
  CHECK(material.claimed.pq_one_time->key.key_id == 1);

  f.store->revoke_device("alice", "phone", Revocation{4, time_at(4)});
  CHECK(kind_of([&] { f.store->take_bundle("alice", "phone", std::nullopt); }) == ErrorKind::conflict);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{0, 0});
}

TEST_CASE("device store: a new list of one kind replaces the stored one of that kind", "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  const PrekeyUpload first = full_upload(2, 10, 5);
  f.store->store_prekeys("alice", "phone", first);
  REQUIRE(f.store->claim_one_time_prekey("alice", "phone", kOneTime));

  // Only X25519 one-time keys: they replace all remaining ones, nothing else changes.
  PrekeyUpload second;
  second.log_index = 3;
  second.one_time_prekeys = make_batch(kOneTime, 100, 3, 9);  // the same key ids, other keys
  f.store->store_prekeys("alice", "phone", second);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{3, 5});
  CHECK(f.rows("prekey_batches") == 2);  // the replaced batch is gone
  CHECK(f.rows("prekeys") == 2 + 3 + 5);
  CHECK(f.rows("one_time_lists") == 2);  // one per list: the replaced one's is gone
  const CurrentPrekeys current = f.store->current_prekeys("alice", "phone");
  CHECK(current.signed_prekey->key == *first.signed_prekey);
  CHECK(current.signed_prekey->log_index == 2);
  CHECK(current.pq_last_resort_prekey->key == *first.pq_last_resort_prekey);
  const auto claimed = f.store->claim_one_time_prekey("alice", "phone", kOneTime);
  REQUIRE(claimed);
  check_claimed(*claimed, *second.one_time_prekeys, 3);
  const auto pq = f.store->claim_one_time_prekey("alice", "phone", kPqOneTime);
  REQUIRE(pq);
  check_claimed(*pq, *first.pq_one_time_prekeys, 2);

  // A new signed prekey replaces the old one; the last-resort key stays.
  PrekeyUpload third;
  third.log_index = 6;
  third.signed_prekey = make_key(PrekeyKind::signed_prekey, 77, 5);
  f.store->store_prekeys("alice", "phone", third);
  const CurrentPrekeys after = f.store->current_prekeys("alice", "phone");
  CHECK(after.signed_prekey->key == *third.signed_prekey);
  CHECK(after.signed_prekey->log_index == 6);
  CHECK(after.pq_last_resort_prekey->key == *first.pq_last_resort_prekey);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{2, 4});

  // A new last-resort key and pq one-time list, while one-time X25519 keys stay.
  PrekeyUpload fourth;
  fourth.log_index = 7;
  fourth.pq_last_resort_prekey = make_key(PrekeyKind::pq_last_resort_prekey, 3, 1);
  fourth.pq_one_time_prekeys = make_batch(kPqOneTime, 7, 1);
  f.store->store_prekeys("alice", "phone", fourth);
  CHECK(f.store->current_prekeys("alice", "phone").pq_last_resort_prekey->key ==
        *fourth.pq_last_resort_prekey);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{2, 1});
  CHECK(f.rows("prekey_batches") == 2);
  CHECK(f.unclaimed_prekeys() == 2 + 2 + 1);
  CHECK(f.rows("prekeys") == 2 + 3 + 1);  // the X25519 key claimed stays until its list goes

  // Only a newer log entry replaces stored prekeys.
  for (const std::uint64_t index : {std::uint64_t{1}, std::uint64_t{6}, std::uint64_t{7}}) {
    PrekeyUpload stale = full_upload(index, 1, 1);
    CHECK(kind_of([&] { f.store->store_prekeys("alice", "phone", stale); }) == ErrorKind::conflict);
  }
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{2, 1});
}

TEST_CASE("device store: malformed prekey uploads are refused and change nothing", "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  auto failure = [&](const PrekeyUpload& upload) {
    return failure_of([&] { f.store->store_prekeys("alice", "phone", upload); });
  };
  auto refused = [&](const PrekeyUpload& upload, const std::string& naming) {
    const auto result = failure(upload);
    if (!result) return false;
    INFO(result->message);
    return result->kind == ErrorKind::invalid_input &&
           result->message.find(naming) != std::string::npos;
  };

  PrekeyUpload empty;
  empty.log_index = 5;
  CHECK(refused(empty, "at least one"));

  PrekeyUpload upload = full_upload(5, 3, 3);
  upload.signed_prekey->public_key.pop_back();
  CHECK(refused(upload, "signed_prekey.public_key: X25519 keys are 32 bytes, got 31"));
  upload = full_upload(5, 3, 3);
  upload.signed_prekey->signature.push_back(0);
  CHECK(refused(upload, "signed_prekey.signature"));
  upload = full_upload(5, 3, 3);
  upload.pq_last_resort_prekey->public_key.resize(32);
  CHECK(refused(upload, "pq_last_resort_prekey.public_key: ML-KEM-768 keys are 1184 bytes"));
  upload = full_upload(5, 3, 3);
  (*upload.one_time_prekeys)[2].public_key.resize(1184);
  CHECK(refused(upload, "one_time_prekeys[2].public_key"));
  upload = full_upload(5, 3, 3);
  (*upload.pq_one_time_prekeys)[1].signature.clear();
  CHECK(refused(upload, "pq_one_time_prekeys[1].signature"));
  upload = full_upload(5, 3, 3);
  (*upload.one_time_prekeys)[2].key_id = (*upload.one_time_prekeys)[0].key_id;
  CHECK(refused(upload, "one_time_prekeys: key id 100 appears twice"));
  upload = full_upload(5, 3, 3);
  (*upload.pq_one_time_prekeys)[0].key_id = 502;
  CHECK(refused(upload, "pq_one_time_prekeys: key id 502 appears twice"));
  upload = full_upload(5, 3, 3);
  upload.one_time_prekeys = Batch{};
  CHECK(refused(upload, "one_time_prekeys: a batch has 1 to 100 keys, got 0"));
  upload = full_upload(5, 3, 3);
  upload.pq_one_time_prekeys = make_batch(kPqOneTime, 0, 101);
  CHECK(refused(upload, "pq_one_time_prekeys: a batch has 1 to 100 keys, got 101"));
  upload = full_upload(std::uint64_t{1} << 63, 3, 3);
  CHECK(refused(upload, "log index"));

  // The enrollment's own log entry can't also carry prekeys.
  CHECK(kind_of([&] { f.store->store_prekeys("alice", "phone", full_upload(1, 3, 3)); }) ==
        ErrorKind::conflict);
  CHECK(kind_of([&] { f.store->store_prekeys("alice", "tablet", full_upload(5, 1, 1)); }) ==
        ErrorKind::not_found);
  CHECK(kind_of([&] { f.store->store_prekeys("alice", "tab let", full_upload(5, 1, 1)); }) ==
        ErrorKind::invalid_input);

  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{});
  CHECK(f.store->current_prekeys("alice", "phone") == CurrentPrekeys{});
  // 100 keys is the most a batch holds, and it is accepted.
  f.store->store_prekeys("alice", "phone", full_upload(5, 100, 100));
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{100, 100});
}

TEST_CASE("device store: every claimed key's batch data reproduces the batch root", "[unit][store]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  // Batch sizes that give every tree shape up to 8 leaves, and the largest batch.
  std::uint64_t log_index = 2;
  for (const std::uint32_t count : {1u, 2u, 3u, 5u, 7u, 8u, 100u}) {
    INFO("batch of " << count);
    PrekeyUpload upload;
    upload.log_index = log_index++;
    upload.one_time_prekeys = make_batch(kOneTime, 1000 * count, count);
    upload.pq_one_time_prekeys = make_batch(kPqOneTime, 0, std::min(count, 9u));
    f.store->store_prekeys("alice", "phone", upload);
    std::vector<bool> seen(count, false);
    while (const auto claimed = f.store->claim_one_time_prekey("alice", "phone", kOneTime)) {
      check_claimed(*claimed, *upload.one_time_prekeys, upload.log_index);
      seen.at(claimed->batch->index) = true;
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](bool b) { return b; }));
    while (const auto claimed = f.store->claim_one_time_prekey("alice", "phone", kPqOneTime)) {
      check_claimed(*claimed, *upload.pq_one_time_prekeys, upload.log_index);
    }
  }
}

TEST_CASE("device store: 8 threads and a second store claim each one-time key exactly once",
          "[unit][store][concurrency]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  const PrekeyUpload upload = full_upload(2, 100, 100);
  f.store->store_prekeys("alice", "phone", upload);
  // Another store object on the same file: its own connections, as another process would have.
  auto second = f.open();

  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<std::vector<StoredPrekey>> claimed(kThreads);
  std::vector<int> empty_answers(kThreads, 0);
  std::vector<std::exception_ptr> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        keyservice::DeviceStore& store = t % 2 == 0 ? *f.store : *second;
        start.arrive_and_wait();
        // Both kinds, interleaved, until each answers "none left".
        bool one_time_left = true, pq_left = true;
        while (one_time_left || pq_left) {
          for (const PrekeyKind kind : {kOneTime, kPqOneTime}) {
            bool& left = kind == kOneTime ? one_time_left : pq_left;
            if (!left) continue;
            if (auto key = store.claim_one_time_prekey("alice", "phone", kind)) {
              claimed[t].push_back(std::move(*key));
            } else {
              left = false;
              ++empty_answers[t];
            }
          }
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

  std::map<std::pair<PrekeyKind, std::uint32_t>, int> handed_out;
  for (const auto& keys : claimed) {
    for (const StoredPrekey& key : keys) {
      ++handed_out[{key.kind, key.key.key_id}];
      check_claimed(
          key, key.kind == kOneTime ? *upload.one_time_prekeys : *upload.pq_one_time_prekeys, 2);
    }
  }
  CHECK(handed_out.size() == 200);
  CHECK(std::all_of(handed_out.begin(), handed_out.end(),
                    [](const auto& e) { return e.second == 1; }));
  for (std::uint32_t i = 0; i < 100; ++i) {
    CHECK(handed_out.count({kOneTime, 100 + i}) == 1);
    CHECK(handed_out.count({kPqOneTime, 500 + i}) == 1);
  }
  CHECK(std::all_of(empty_answers.begin(), empty_answers.end(), [](int n) { return n == 2; }));
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{});
  CHECK(second->claim_one_time_prekey("alice", "phone", kOneTime) == std::nullopt);
}

TEST_CASE("device store: bundles of many devices taken at once hand each key out once",
          "[unit][store][concurrency]") {
  // 8 threads on two store objects take bundles of 6 devices round robin, so their claims meet in
  // write groups; one device is revoked part way through. Its fetches fail from then on and the
  // others' don't: every key of the 5 other devices goes out exactly once.
  Fixture f;
  auto second = f.open();
  constexpr int kDevices = 6, kThreads = 8, kVictim = 5;
  std::vector<std::string> names;
  std::vector<PrekeyUpload> uploads;
  for (int d = 0; d < kDevices; ++d) {
    names.push_back("d" + std::to_string(d));
    f.store->add_device(make_device("alice", names.back(), 1 + d), credential_hash("alice/" + names.back()));
    uploads.push_back(full_upload(10 + d, 100, 100));
    f.store->store_prekeys("alice", names.back(), uploads.back());
  }

  struct Taken {
    int device;
    StoredPrekey key;
  };
  std::atomic<int> bundles{0};
  std::latch start(kThreads + 1);
  // Per store object: the devices whose fetches came back without one-time keys (or revoked).
  std::array<std::array<std::atomic<bool>, kDevices>, 2> finished{};
  std::vector<std::vector<Taken>> taken(kThreads);
  std::vector<std::exception_ptr> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        ClaimingDeviceStore& store = t % 2 == 0 ? *f.store : *second;
        auto& done = finished[t % 2];
        start.arrive_and_wait();
        for (int n = t;; ++n) {
          if (std::all_of(done.begin(), done.end(), [](const auto& d) { return d.load(); })) break;
          const int d = n % kDevices;
          if (done[d]) continue;
          keyservice::DeviceStore::BundleMaterial material;
          try {
            material = store.take_bundle("alice", names[d], std::nullopt);
          } catch (const keyservice::Error& e) {
            if (d != kVictim || e.kind() != ErrorKind::conflict) throw;
            done[d] = true;
            continue;
          }
          ++bundles;
          if (!material.claimed.one_time && !material.claimed.pq_one_time) done[d] = true;
          for (auto* key : {&material.claimed.one_time, &material.claimed.pq_one_time}) {
            if (*key) taken[t].push_back({d, std::move(**key)});
          }
        }
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  start.arrive_and_wait();
  while (bundles < 100) std::this_thread::yield();
  f.store->revoke_device("alice", names[kVictim], Revocation{50, time_at(50)});
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }

  std::map<std::tuple<int, PrekeyKind, std::uint32_t>, int> handed_out;
  for (const auto& keys : taken) {
    for (const Taken& item : keys) {
      ++handed_out[{item.device, item.key.kind, item.key.key.key_id}];
      const PrekeyUpload& upload = uploads[static_cast<std::size_t>(item.device)];
      check_claimed(item.key, item.key.kind == kOneTime ? *upload.one_time_prekeys : *upload.pq_one_time_prekeys,
                    upload.log_index);
    }
  }
  CHECK(std::all_of(handed_out.begin(), handed_out.end(), [](const auto& e) { return e.second == 1; }));
  for (int d = 0; d < kDevices; ++d) {
    if (d == kVictim) continue;
    for (std::uint32_t i = 0; i < 100; ++i) {
      CHECK(handed_out.count({d, kOneTime, 100 + i}) == 1);
      CHECK(handed_out.count({d, kPqOneTime, 500 + i}) == 1);
    }
  }
  CHECK(f.unclaimed_prekeys() == 2 * (kDevices - 1));  // each active device's current keys only
  CHECK(f.rows("prekeys") == 2 * (kDevices - 1) + 200 * (kDevices - 1));  // and claimed ones, until replaced
  CHECK(kind_of([&] { second->take_bundle("alice", names[kVictim], std::nullopt); }) == ErrorKind::conflict);
}

TEST_CASE("device store: processes claim each one-time key exactly once", "[unit][store][concurrency]") {
  Fixture f;
  {
    auto& store = f.store;
    store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
    store->store_prekeys("alice", "phone", full_upload(2, 100, 0));
    f.store.reset();
  }  // no connection is open when the children fork

  constexpr int kChildren = 3;
  int go[2];
  REQUIRE(::pipe(go) == 0);
  std::vector<pid_t> children;
  std::vector<int> results;
  for (int c = 0; c < kChildren; ++c) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // The child: its own store; claims until none is left and writes the key ids it got.
      ::close(out[0]);
      ::close(go[1]);
      int status = 0;
      try {
        auto store = f.open();
        char byte = 0;
        if (::read(go[0], &byte, 1) != 1) ::_exit(2);
        while (const auto key = store->claim_one_time_prekey("alice", "phone", kOneTime)) {
          const std::uint32_t id = key->key.key_id;
          if (::write(out[1], &id, sizeof id) != sizeof id) ::_exit(3);
        }
      } catch (...) {
        status = 4;
      }
      ::_exit(status);
    }
    ::close(out[1]);
    children.push_back(pid);
    results.push_back(out[0]);
  }
  ::close(go[0]);

  auto store = f.open();
  constexpr int kThreads = 4;
  std::latch start(kThreads + 1);
  std::vector<std::vector<std::uint32_t>> claimed(kThreads);
  std::vector<std::exception_ptr> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        start.arrive_and_wait();
        while (const auto key = store->claim_one_time_prekey("alice", "phone", kOneTime)) {
          claimed[t].push_back(key->key.key_id);
        }
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  const std::string bytes(kChildren, 'g');
  REQUIRE(::write(go[1], bytes.data(), bytes.size()) == kChildren);
  ::close(go[1]);
  start.arrive_and_wait();
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }

  std::vector<std::uint32_t> all;
  for (const auto& ids : claimed) all.insert(all.end(), ids.begin(), ids.end());
  int from_children = 0;
  for (int c = 0; c < kChildren; ++c) {
    std::uint32_t id = 0;
    while (::read(results[c], &id, sizeof id) == sizeof id) {
      all.push_back(id);
      ++from_children;
    }
    ::close(results[c]);
    int status = -1;
    REQUIRE(::waitpid(children[c], &status, 0) == children[c]);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  INFO(from_children << " keys went to the child processes");
  std::sort(all.begin(), all.end());
  std::vector<std::uint32_t> expected(100);
  for (std::uint32_t i = 0; i < 100; ++i) expected[i] = 100 + i;
  CHECK(all == expected);
  CHECK(store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{});
}

TEST_CASE("device store: malformed stored rows are reported and never served", "[unit]") {
  Fixture f;
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  f.store->store_prekeys("alice", "phone", full_upload(2, 3, 0));
  auto tamper = [&](const std::string& sql) {
    auto db = keyservice::sqlite::Database::open(f.path, false);
    db.exec("PRAGMA ignore_check_constraints = ON");
    db.exec(sql);
  };

  // A batch whose leaf hashes are cut short: the claim fails and takes nothing away.
  tamper("UPDATE prekey_batches SET leaf_hashes = substr(leaf_hashes, 1, 40)");
  CHECK(kind_of([&] { f.store->claim_one_time_prekey("alice", "phone", kOneTime); }) ==
        ErrorKind::integrity);
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{3, 0});

  // A list that claims a higher last key id than its rows hold: the claim past them fails.
  f.store->store_prekeys("alice", "phone", full_upload(3, 3, 0));
  tamper("UPDATE one_time_lists SET last_key_id = 4000");
  for (int i = 0; i < 3; ++i) REQUIRE(f.store->claim_one_time_prekey("alice", "phone", kOneTime));
  CHECK(kind_of([&] { f.store->claim_one_time_prekey("alice", "phone", kOneTime); }) == ErrorKind::integrity);
  CHECK(kind_of([&] { f.store->take_bundle("alice", "phone", std::nullopt); }) == ErrorKind::integrity);

  tamper("UPDATE prekeys SET signature = x'00' WHERE kind = 'signed_prekey'");
  CHECK(kind_of([&] { f.store->current_prekeys("alice", "phone"); }) == ErrorKind::integrity);

  tamper("UPDATE devices SET algorithm = 'rsa'");
  CHECK(kind_of([&] { f.store->find_device("alice", "phone"); }) == ErrorKind::integrity);
  CHECK(kind_of([&] { f.store->find_device_by_credential(credential_hash("alice/phone")); }) ==
        ErrorKind::integrity);
}

TEST_CASE("device store: reopening the database keeps everything", "[unit][store]") {
  Fixture f;
  const Device phone = make_device("alice", "phone", 1);
  const Device laptop = make_device("alice", "laptop", 2, audit::KeyAlgorithm::ecdsa_p256);
  f.store->add_device(phone, credential_hash("alice/phone"));
  f.store->add_device(laptop, credential_hash("alice/laptop"));
  const PrekeyUpload upload = full_upload(3, 10, 4);
  f.store->store_prekeys("alice", "phone", upload);
  REQUIRE(f.store->claim_one_time_prekey("alice", "phone", kOneTime)->key.key_id == 100);
  f.store->revoke_device("alice", "laptop", Revocation{4, time_at(4)});
  const auto devices = f.store->list_devices("alice");
  const auto current = f.store->current_prekeys("alice", "phone");
  f.store.reset();

  auto reopened = f.open();
  CHECK(reopened->list_devices("alice") == devices);
  CHECK(reopened->find_device("alice", "phone") == phone);
  CHECK(reopened->find_device("alice", "laptop")->revocation == Revocation{4, time_at(4)});
  CHECK(reopened->find_device_by_credential(credential_hash("alice/phone")) == phone);
  CHECK(reopened->find_device_by_credential(credential_hash("alice/laptop")) == std::nullopt);
  CHECK(reopened->count_active_devices("alice") == 1);
  CHECK(reopened->current_prekeys("alice", "phone") == current);
  CHECK(reopened->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{9, 4});
  const auto next = reopened->claim_one_time_prekey("alice", "phone", kOneTime);
  REQUIRE(next);
  CHECK(next->key.key_id == 101);
  check_claimed(*next, *upload.one_time_prekeys, 3);
  // Opening with create on an existing devices database keeps it too.
  reopened.reset();
  CHECK(f.open(true)->count_one_time_prekeys("alice", "phone") ==
        OneTimePrekeyCounts{8, 4});
}

TEST_CASE("device store: a version 1 database is upgraded in place", "[unit]") {
  Fixture f;
  const PrekeyUpload upload = full_upload(2, 10, 3);
  f.store->add_device(make_device("alice", "phone", 1), credential_hash("alice/phone"));
  f.store->store_prekeys("alice", "phone", upload);
  f.store.reset();
  {
    // What version 1 left: no claim cursors, and claimed keys (the lowest ids) deleted.
    auto db = keyservice::sqlite::Database::open(f.path, false);
    db.exec("DROP TABLE one_time_lists");
    db.exec("DELETE FROM prekeys WHERE kind = 'one_time_prekey' AND key_id < 102");
    db.exec("UPDATE meta SET value = '1' WHERE key = 'schema_version'");
  }
  f.store = f.open();
  CHECK(f.store->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{8, 3});
  for (std::uint32_t id = 102; id < 110; ++id) {
    const auto claimed = f.store->claim_one_time_prekey("alice", "phone", kOneTime);
    REQUIRE(claimed);
    CHECK(claimed->key.key_id == id);
    check_claimed(*claimed, *upload.one_time_prekeys, 2);
  }
  CHECK_FALSE(f.store->claim_one_time_prekey("alice", "phone", kOneTime));
  f.store.reset();
  auto db = keyservice::sqlite::Database::open(f.path, false);
  auto version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'");
  REQUIRE(version.step());
  CHECK(version.column_text(0) == "2");
  CHECK(f.rows("one_time_lists") == 2);
  CHECK(f.open()->count_one_time_prekeys("alice", "phone") == OneTimePrekeyCounts{0, 3});
}

TEST_CASE("device store: a database of another schema version or kind is refused", "[unit]") {
  testing::TempDir dir;
  const std::string path = (dir.path() / "devices.db").string();
  CHECK(kind_of([&] { SqliteDeviceStore::open(path, false); }) == ErrorKind::not_found);
  SqliteDeviceStore::open(path, true);
  {
    auto db = keyservice::sqlite::Database::open(path, false);
    db.exec("UPDATE meta SET value = '3' WHERE key = 'schema_version'");
  }
  for (const bool create : {false, true}) {
    const auto failure = failure_of([&] { SqliteDeviceStore::open(path, create); });
    REQUIRE(failure);
    CHECK(failure->kind == ErrorKind::integrity);
    CHECK(failure->message.find("schema version is 3, this build reads 2") != std::string::npos);
  }
  {
    auto db = keyservice::sqlite::Database::open(path, false);
    db.exec("DELETE FROM meta WHERE key = 'schema_version'");
  }
  CHECK(kind_of([&] { SqliteDeviceStore::open(path, false); }) == ErrorKind::integrity);

  // Another SQLite database, e.g. the log's, is not taken for a devices database.
  const std::string other = (dir.path() / "log.db").string();
  {
    auto db = keyservice::sqlite::Database::open(other, true);
    db.exec(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); "
        "INSERT INTO meta VALUES ('origin', 'log.example')");
  }
  CHECK(kind_of([&] { SqliteDeviceStore::open(other, true); }) == ErrorKind::integrity);
  const std::string unrelated = (dir.path() / "unrelated.db").string();
  {
    auto db = keyservice::sqlite::Database::open(unrelated, true);
    db.exec("CREATE TABLE t (x)");
  }
  CHECK(kind_of([&] { SqliteDeviceStore::open(unrelated, true); }) == ErrorKind::integrity);
  CHECK(kind_of([&] { SqliteDeviceStore::open(unrelated, false); }) == ErrorKind::integrity);
}
