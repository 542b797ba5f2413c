#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "audit/key_algorithm.h"
#include "audit/prekey.h"
#include "pkcs11/inventory.h"
#include "pkcs11/keys.h"
#include "tests/support/test_token.h"
#include "tests/support/twin_key.h"

using namespace escrowless::pkcs11;
using escrowless::testing::TestToken;

namespace {

std::array<std::uint8_t, 32> sha256(const std::vector<std::uint8_t>& data) {
  std::array<std::uint8_t, 32> digest{};
  unsigned int size = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) == 1);
  return digest;
}

}  // namespace

TEST_CASE("inventory: lists every object with class, type, id, label, flags and key hash", "[hsm]") {
  SessionPool& pool = TestToken::get().token().pool();
  CHECK(take_inventory(pool).empty());  // a fresh token

  const KeyPair ed = generate_key_pair(pool, TestToken::get().algorithm(), random_key_id(), "ed");
  const KeyPair ec = generate_key_pair(pool, Algorithm::ecdsa_p256, random_key_id(), "ec");
  const auto items = take_inventory(pool);
  REQUIRE(items.size() == 4);

  for (const KeyPair* key : {&ed, &ec}) {
    const auto expected_hash = sha256(key->public_key.spki_der());
    for (const CK_OBJECT_CLASS object_class : {CKO_PUBLIC_KEY, CKO_PRIVATE_KEY}) {
      const auto found = std::find_if(items.begin(), items.end(), [&](const InventoryItem& item) {
        return item.attributes.id == key->id && item.attributes.object_class == object_class;
      });
      REQUIRE(found != items.end());
      CHECK(found->attributes.label == key->label);
      REQUIRE(found->public_key_sha256);
      CHECK(*found->public_key_sha256 == expected_hash);
      if (object_class == CKO_PRIVATE_KEY) {
        CHECK(found->attributes.flag(CKA_EXTRACTABLE) == false);
        CHECK(found->attributes.flag(CKA_NEVER_EXTRACTABLE) == true);
        // The inventory reports what the token made: the generation's read-back (tpm2-pkcs11
        // forces decrypt on EC keys, key_generation.h).
        REQUIRE(key->generation);
        CHECK(found->attributes.flag(CKA_DECRYPT) == key->generation->private_key.flag(CKA_DECRYPT));
        CHECK(found->attributes.flags.size() == key->generation->private_key.flags.size());
        for (std::size_t i = 0; i < found->attributes.flags.size(); ++i) {
          CHECK(found->attributes.flags[i].value == key->generation->private_key.flags[i].value);
        }
      }
    }
  }
}

// SoftHSM's file store, killed while making an object, leaves an object file holding only its
// 8-byte generation counter (seen in tests/crash); SoftHSM then lists an object whose CKA_CLASS
// it cannot read, and every inventory fails. The file is written here as the crash left it, so
// the test is softhsm-only (scripts/test leaves it out of the other tokens' runs).
TEST_CASE("inventory softhsm-only: an object whose class the token cannot read is destroyed, and only that", "[hsm]") {
  SessionPool& pool = TestToken::get().token().pool();
  const KeyPair kept = generate_key_pair(pool, TestToken::get().algorithm(), random_key_id(), "kept");
  std::filesystem::path token_folder;
  for (const auto& entry : std::filesystem::directory_iterator(TestToken::get().dir() / "tokens")) {
    token_folder = entry.path();
  }
  REQUIRE_FALSE(token_folder.empty());
  {
    std::ofstream broken(token_folder / "0badc0de-0000-0000-0000-000000000000.object", std::ios::binary);
    const char generation[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    broken.write(generation, sizeof generation);
    std::ofstream lock(token_folder / "0badc0de-0000-0000-0000-000000000000.lock");  // made with it
  }
  {
    // SoftHSM re-reads the folder when the token's generation counter (big-endian) has moved, as
    // after a restart or another process's change.
    std::fstream counter(token_folder / "generation", std::ios::binary | std::ios::in | std::ios::out);
    unsigned char bytes[8] = {};
    REQUIRE(counter.read(reinterpret_cast<char*>(bytes), sizeof bytes));
    for (int i = 7; i >= 0 && ++bytes[i] == 0; --i) {
    }
    counter.seekp(0);
    counter.write(reinterpret_cast<const char*>(bytes), sizeof bytes);
  }
  CHECK_THROWS_AS(take_inventory(pool), Error);

  CHECK_THROWS_AS(destroy_unreadable_objects(pool, 0), Error);  // more than allowed: none destroyed
  CHECK_THROWS_AS(take_inventory(pool), Error);
  CHECK(destroy_unreadable_objects(pool, 1) == 1);
  const auto items = take_inventory(pool);
  CHECK(items.size() == 2);  // the kept key pair
  CHECK(find_key_pair_by_id(pool, kept.id));
  CHECK_FALSE(std::filesystem::exists(token_folder / "0badc0de-0000-0000-0000-000000000000.object"));
  CHECK(destroy_unreadable_objects(pool, 1) == 0);
}

// A public key whose CKA_EC_POINT is empty (what SoftHSM's file store left once in the crash
// test, killed while making a key) is listed without a hash instead of failing the inventory.
// softhsm-only: the state comes from SoftHSM's file store; NSS refuses to create such an object
// (CKR_ATTRIBUTE_VALUE_INVALID), so it cannot arise there.
TEST_CASE("inventory softhsm-only: a public key with an empty point is listed without a hash", "[hsm]") {
  SessionPool& pool = TestToken::get().token().pool();
  std::uint8_t ed25519_oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};  // DER OID 1.3.101.112
  CK_OBJECT_CLASS object_class = CKO_PUBLIC_KEY;
  CK_KEY_TYPE key_type = CKK_EC_EDWARDS;
  CK_BBOOL yes = CK_TRUE;
  std::uint8_t empty = 0;
  CK_ATTRIBUTE object_template[] = {{CKA_CLASS, &object_class, sizeof object_class},
                                    {CKA_KEY_TYPE, &key_type, sizeof key_type},
                                    {CKA_TOKEN, &yes, 1},
                                    {CKA_EC_PARAMS, ed25519_oid, sizeof ed25519_oid},
                                    {CKA_EC_POINT, &empty, 0}};
  pool.run([&](Session& session) {
    CK_OBJECT_HANDLE object = 0;
    check(session.fn()->C_CreateObject(session.handle(), object_template, 5, &object), "C_CreateObject");
  });
  const auto items = take_inventory(pool);
  REQUIRE(items.size() == 1);
  CHECK(items.front().attributes.object_class == CKO_PUBLIC_KEY);
  CHECK_FALSE(items.front().public_key_sha256);
}

TEST_CASE("inventory: private keys prove possession, a twin planted on a key id cannot, lookups refuse both", "[hsm]") {
  SessionPool& pool = TestToken::get().token().pool();
  const KeyPair victim = generate_key_pair(pool, TestToken::get().algorithm(), random_key_id(), "victim");
  const auto algorithm = escrowless::audit::parse_key_algorithm(to_string(victim.public_key.algorithm));
  const auto challenge = [](std::size_t position) {
    const std::string text = "inventory challenge " + std::to_string(position);
    return std::vector<std::uint8_t>(text.begin(), text.end());
  };
  // How many private keys under the victim's id, and how many of them prove they hold its key.
  const auto proofs = [&] {
    std::pair<int, int> counts{0, 0};
    const auto items = take_inventory(pool, challenge);
    for (std::size_t position = 0; position < items.size(); ++position) {
      const InventoryItem& item = items[position];
      if (item.attributes.object_class != CKO_PRIVATE_KEY || item.attributes.id != victim.id) continue;
      ++counts.first;
      if (item.proof && escrowless::audit::verify_prekey_signature(algorithm, victim.public_key.raw,
                                                                    challenge(position), *item.proof)) {
        ++counts.second;
      }
    }
    return counts;
  };
  CHECK(proofs() == std::pair{1, 1});

  escrowless::testing::plant_twin_key(pool, victim);
  const std::uint64_t refused = ambiguous_key_lookups();
  const auto is_ambiguous = [](const Error& e) { return e.kind() == ErrorKind::ambiguous_key; };
  CHECK_THROWS_MATCHES(find_key_pair_by_id(pool, victim.id), Error, Catch::Predicate<Error>(is_ambiguous));
  CHECK_THROWS_MATCHES(find_key_pair_by_label(pool, "victim"), Error, Catch::Predicate<Error>(is_ambiguous));
  CHECK(ambiguous_key_lookups() == refused + 2);
  const auto after = proofs();
  INFO("private keys " << after.first << ", proving " << after.second);
  // Never a clean picture: SoftHSM and tpm2-pkcs11 list both keys, one proving (the twin signs as
  // itself); NSS softokn lists one key under the id that then fails to prove (not yet understood).
  CHECK(after != std::pair{1, 1});
  CHECK(after.second <= 1);
  if (TestToken::get().kind() != escrowless::testing::TokenKind::nss) CHECK(after == std::pair{2, 1});

  const auto destroyed = destroy_keys_if(pool, [&](const ObjectAttributes& a) { return a.id == victim.id; });
  CHECK(destroyed.size() >= 3);
}
