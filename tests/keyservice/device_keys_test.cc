#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "audit/public_key.h"
#include "keyservice/device_keys.h"
#include "keyservice/error.h"
#include "tests/support/test_token.h"

using namespace escrowless;
using escrowless::testing::TestToken;

namespace {

keyservice::Device device_for(const pkcs11::KeyPair& key, pkcs11::Algorithm algorithm) {
  keyservice::Device device;
  device.account = "alice";
  device.device = "d1";
  device.algorithm = algorithm == pkcs11::Algorithm::ed25519 ? audit::KeyAlgorithm::ed25519 : audit::KeyAlgorithm::ecdsa_p256;
  device.token_key_id = key.id;
  device.public_key = key.public_key.raw;
  return device;
}

}  // namespace

TEST_CASE("device keys: the identity key is found once, checked against the enrolled key and forgotten", "[hsm]") {
  pkcs11::Token& token = TestToken::get().token();
  const pkcs11::Algorithm algorithm = pkcs11::choose_algorithm(token.mechanisms());
  const pkcs11::KeyPair key = pkcs11::generate_key_pair(token.pool(), algorithm, pkcs11::random_key_id(), "device-keys-test");
  keyservice::DeviceKeys keys(token);
  keyservice::Device device = device_for(key, algorithm);

  const pkcs11::KeyPair found = keys.identity_key(device);
  CHECK(found.id == key.id);
  CHECK(found.public_key.raw == key.public_key.raw);

  // Another public key under the same CKA_ID is not the device's key: refused, never used.
  keyservice::Device impostor = device;
  impostor.token_key_id = key.id;
  impostor.public_key.back() ^= 1;
  keys.forget(device);
  try {
    keys.identity_key(impostor);
    FAIL("a key that differs from the enrolled one was accepted");
  } catch (const keyservice::Error& e) {
    CHECK(e.kind() == keyservice::ErrorKind::integrity);
  }

  // Destroyed in the token and forgotten: unavailable, not a stale handle.
  pkcs11::destroy_key_pair(token.pool(), found);
  keys.forget(device);
  try {
    keys.identity_key(device);
    FAIL("a destroyed key was found");
  } catch (const keyservice::Error& e) {
    CHECK(e.kind() == keyservice::ErrorKind::unavailable);
  }
}

TEST_CASE("device keys: writes about one device wait for each other", "[hsm]") {
  keyservice::DeviceKeys keys(TestToken::get().token());
  auto held = keys.lock("alice", "d1");
  std::atomic<bool> second_in{false};
  std::thread second([&] {
    const auto lock = keys.lock("alice", "d1");
    second_in = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(second_in);  // cannot turn true while `held` is held, however slow the machine
  held.unlock();
  second.join();
  CHECK(second_in);
}

TEST_CASE("device keys: destroy uses the cached key or finds and checks it and is false once gone", "[hsm]") {
  pkcs11::Token& token = TestToken::get().token();
  const pkcs11::Algorithm algorithm = pkcs11::choose_algorithm(token.mechanisms());
  keyservice::DeviceKeys keys(token);

  // Cached (as after enrollment or a prekey upload): destroyed without a search, gone from the token.
  const pkcs11::KeyPair cached = pkcs11::generate_key_pair(token.pool(), algorithm, pkcs11::random_key_id(),
                                                           "destroy-cached", pkcs11::KeyUniqueness::guaranteed_by_caller);
  const keyservice::Device cached_device = device_for(cached, algorithm);
  keys.remember(cached_device, cached);
  CHECK(keys.destroy(cached_device));
  CHECK_FALSE(pkcs11::find_key_pair_by_id(token.pool(), cached.id).has_value());
  CHECK_FALSE(keys.destroy(cached_device));

  // Not cached: found by id and checked against the enrolled public key first.
  const pkcs11::KeyPair stored = pkcs11::generate_key_pair(token.pool(), algorithm, pkcs11::random_key_id(),
                                                           "destroy-found");
  keyservice::Device impostor = device_for(stored, algorithm);
  impostor.public_key.back() ^= 1;
  CHECK_THROWS_AS(keys.destroy(impostor), keyservice::Error);
  CHECK(pkcs11::find_key_pair_by_id(token.pool(), stored.id).has_value());  // left in place
  CHECK(keys.destroy(device_for(stored, algorithm)));
  CHECK_FALSE(pkcs11::find_key_pair_by_id(token.pool(), stored.id).has_value());
}
