#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <algorithm>

#include "pkcs11/inventory.h"
#include "pkcs11/keys.h"
#include "tests/support/test_token.h"

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

  const KeyPair ed = generate_key_pair(pool, Algorithm::ed25519, random_key_id(), "ed");
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
        CHECK(found->attributes.flag(CKA_DECRYPT) == false);
      }
    }
  }
}
