// Enrollment and revocation when the token goes away between storing an entry and signing the
// checkpoint that covers it: the entry is in the log for good, the caller gets an error, and the
// store must still agree with the log. SoftHSM can't be made to vanish at exactly that moment,
// so the fault is a fake signer (named as one) in front of the real token key; keys, store and
// log are real.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <atomic>

#include "keyservice/device_keys.h"
#include "keyservice/devices.h"
#include "keyservice/error.h"
#include "keyservice/log/note_signer.h"
#include "keyservice/store/sqlite_device_store.h"
#include "pkcs11/keys.h"
#include "tests/keyservice/log_fixture.h"

using namespace escrowless;
using escrowless::testing::LogFixture;
using escrowless::testing::TempDir;
using escrowless::testing::TestToken;

namespace {

// Fake fault: signs with the real token key unless `broken` is set.
class FakeFailingSigner final : public keyservice::NoteSigner {
 public:
  FakeFailingSigner(pkcs11::SessionPool& pool, const pkcs11::KeyPair& key, const std::string& origin)
      : real_(pool, key, origin) {}
  const audit::VerifierKey& verifier() const override { return real_.verifier(); }
  std::string sign(std::string_view text) override {
    if (broken) throw keyservice::Error(keyservice::ErrorKind::unavailable, "fake: the token went away");
    return real_.sign(text);
  }
  std::atomic<bool> broken{false};

 private:
  keyservice::TokenNoteSigner real_;
};

struct World {
  LogFixture fixture;
  TempDir dir;
  FakeFailingSigner* signer = nullptr;
  std::unique_ptr<keyservice::TransparencyLog> log;
  std::unique_ptr<keyservice::SqliteDeviceStore> store;
  std::unique_ptr<keyservice::DeviceKeys> keys;
  std::unique_ptr<keyservice::Devices> devices;

  World() {
    auto made = std::make_unique<FakeFailingSigner>(LogFixture::pool(), fixture.key(), fixture.origin());
    signer = made.get();
    log = keyservice::TransparencyLog::open(fixture.database(), std::move(made), {});
    store = keyservice::SqliteDeviceStore::open((dir.path() / "devices.db").string(), true);
    keys = std::make_unique<keyservice::DeviceKeys>(TestToken::get().token());
    devices = std::make_unique<keyservice::Devices>(TestToken::get().token(), *log, *store, *keys);
  }
  ~World() { log->stop(); }

  // Once signing works again: every stored entry, as JSON, covered by a signed checkpoint.
  std::vector<nlohmann::json> entries_after_recovery() {
    signer->broken = false;
    log->append(R"({"time":"2026-01-01T00:00:00.000Z","type":"test.marker"})").get();
    std::vector<nlohmann::json> parsed;
    for (const std::string& entry : log->entries(0, log->size())) parsed.push_back(nlohmann::json::parse(entry));
    return parsed;
  }
};

bool is_unsigned_entry(const keyservice::Error& e) {
  return dynamic_cast<const keyservice::UnsignedEntry*>(&e) != nullptr &&
         e.kind() == keyservice::ErrorKind::unavailable;
}

}  // namespace

TEST_CASE("devices: an enrollment logged but not acknowledged is stored revoked and its revocation logged",
          "[hsm]") {
  World world;
  world.signer->broken = true;
  CHECK_THROWS_MATCHES(world.devices->enroll("alice", audit::Actor::admin()), keyservice::Error,
                       Catch::Matchers::Predicate<keyservice::Error>(is_unsigned_entry));

  // The store knows the device, revoked, with the indices the log gave both entries.
  const auto listed = world.devices->list("alice");
  REQUIRE(listed.size() == 1);
  const keyservice::Device& device = listed.front();
  CHECK_FALSE(device.is_active());
  REQUIRE(device.revocation);
  CHECK(device.revocation->log_index == device.enrolled_index + 1);
  // Its key is gone from the token (the token itself was fine; only signing failed).
  CHECK_FALSE(pkcs11::find_key_pair_by_id(TestToken::get().token().pool(), device.token_key_id));

  // Once a checkpoint is signed again, the log holds the enrollment and then its revocation.
  const auto entries = world.entries_after_recovery();
  REQUIRE(entries.size() > device.revocation->log_index);
  const auto& enrolled = entries[device.enrolled_index];
  const auto& revoked = entries[device.revocation->log_index];
  CHECK(enrolled["type"] == "device.enrolled");
  CHECK(enrolled["device"] == device.device);
  CHECK(revoked["type"] == "device.revoked");
  CHECK(revoked["device"] == device.device);
}

TEST_CASE("devices: a revocation logged but not acknowledged is in force in the store", "[hsm]") {
  World world;
  const keyservice::Enrollment made = world.devices->enroll("bob", audit::Actor::admin());
  const std::string credential(made.credential.bytes().begin(), made.credential.bytes().end());
  REQUIRE(world.devices->authenticate(credential));

  world.signer->broken = true;
  CHECK_THROWS_MATCHES(world.devices->revoke("bob", made.device.device, audit::Actor::admin()), keyservice::Error,
                       Catch::Matchers::Predicate<keyservice::Error>(is_unsigned_entry));
  CHECK_FALSE(world.devices->authenticate(credential));
  const auto listed = world.devices->list("bob");
  REQUIRE(listed.size() == 1);
  REQUIRE(listed.front().revocation);
  CHECK_FALSE(pkcs11::find_key_pair_by_id(TestToken::get().token().pool(), made.device.token_key_id));
  // A retry finds it revoked rather than logging a second revocation.
  try {
    world.devices->revoke("bob", made.device.device, audit::Actor::admin());
    FAIL("revoked twice");
  } catch (const keyservice::Error& e) {
    CHECK(e.kind() == keyservice::ErrorKind::conflict);
  }

  const auto entries = world.entries_after_recovery();
  const auto& revoked = entries[listed.front().revocation->log_index];
  CHECK(revoked["type"] == "device.revoked");
  CHECK(revoked["device"] == made.device.device);
}
