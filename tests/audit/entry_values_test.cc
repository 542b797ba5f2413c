// Ids, actors, key algorithms and public-key hashes, object class and key type names.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>

#include "audit/encoding.h"
#include "audit/entry_ids.h"
#include "audit/key_algorithm.h"
#include "audit/openssl_ptr.h"
#include "audit/token_objects.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::IsInvalidInput;

namespace {

std::vector<uint8_t> spki_of(EVP_PKEY* key) {
  const int length = i2d_PUBKEY(key, nullptr);
  REQUIRE(length > 0);
  std::vector<uint8_t> der(static_cast<std::size_t>(length));
  unsigned char* out = der.data();
  REQUIRE(i2d_PUBKEY(key, &out) == length);
  return der;
}

}  // namespace

TEST_CASE("ids are 1 to 64 characters from [A-Za-z0-9._-]", "[unit]") {
  for (const std::string& id :
       {std::string("a"), std::string("alice"), std::string("Phone-2.work_1"), std::string(64, 'x'),
        std::string("..."), std::string("-")}) {
    INFO(id);
    CHECK(is_valid_id(id));
  }
  for (const std::string& id :
       {std::string(), std::string(65, 'x'), std::string("a/b"), std::string("a b"),
        std::string("a:b"), std::string("a%2f"), std::string("\xc3\xa9"), std::string("a\0b", 3),
        std::string("a+b"), std::string("a\n")}) {
    INFO(test::bytes_of(id).size());
    CHECK_FALSE(is_valid_id(id));
  }
}

TEST_CASE("actors are admin or device:<id>", "[unit]") {
  CHECK(parse_actor("admin") == Actor::admin());
  CHECK(parse_actor("admin").is_admin());
  CHECK(parse_actor("device:phone") == Actor::of_device("phone"));
  CHECK(Actor::of_device("phone").to_string() == "device:phone");
  CHECK(Actor::admin().to_string() == "admin");
  CHECK(parse_actor("device:admin") == Actor::of_device("admin"));
  for (const std::string_view text : {"", "Admin", "admin ", "device:", "device:a/b", "device",
                                      "Device:phone", "user:phone", "device:phone:2"}) {
    INFO(text);
    CHECK_THROWS_MATCHES(parse_actor(text), Error, IsInvalidInput());
  }
}

TEST_CASE("public_key_sha256 hashes the SPKI of RFC 8410 and RFC 5480", "[unit][vectors]") {
  // RFC 8032 7.1 TEST 1 public key; its SPKI is the RFC 8410 prefix and the key.
  const auto ed = hex_decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const auto ed_spki = public_key_spki(KeyAlgorithm::ed25519, ed);
  CHECK(hex_encode(ed_spki) == "302a300506032b6570032100" + hex_encode(ed));
  CHECK(to_hex(public_key_sha256(KeyAlgorithm::ed25519, ed)) ==
        "06e3fd8fda29bb60ab59557de61edb0aecdb231134be30e75b455f8e1b792fa9");
  // RFC 6979 A.2.5 P-256 public key.
  const auto p256 = hex_decode(
      "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
      "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299");
  CHECK(hex_encode(public_key_spki(KeyAlgorithm::ecdsa_p256, p256)) ==
        "3059301306072a8648ce3d020106082a8648ce3d030107034200" + hex_encode(p256));
  CHECK(to_hex(public_key_sha256(KeyAlgorithm::ecdsa_p256, p256)) ==
        "5a7a78cca4a0f420d9bc62bb669c3c2759e39f723d3ae10dcbe0f0815a07ecd4");
}

TEST_CASE("public_key_sha256 agrees with OpenSSL's SPKI for fresh keys", "[unit]") {
  for (int i = 0; i < 4; ++i) {
    const EvpPkeyPtr ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    REQUIRE(ed);
    std::vector<uint8_t> raw(32);
    std::size_t raw_size = raw.size();
    REQUIRE(EVP_PKEY_get_raw_public_key(ed.get(), raw.data(), &raw_size) == 1);
    CHECK(public_key_spki(KeyAlgorithm::ed25519, raw) == spki_of(ed.get()));
    CHECK(public_key_sha256(KeyAlgorithm::ed25519, raw) == sha256(spki_of(ed.get())));

    const EvpPkeyPtr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    REQUIRE(ec);
    std::vector<uint8_t> point(65);
    std::size_t point_size = 0;
    REQUIRE(EVP_PKEY_get_octet_string_param(ec.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                            point.size(), &point_size) == 1);
    REQUIRE(point_size == 65);
    CHECK(public_key_sha256(KeyAlgorithm::ecdsa_p256, point) == sha256(spki_of(ec.get())));
  }
}

TEST_CASE("public keys of the wrong size or off the curve are refused", "[unit]") {
  const std::vector<uint8_t> short_key(31, 1);
  try {
    public_key_sha256(KeyAlgorithm::ed25519, short_key);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::invalid_input);
    CHECK(std::string(e.what()) == "Ed25519 keys are 32 bytes, got 31");
  }
  CHECK_THROWS_MATCHES(public_key_sha256(KeyAlgorithm::ed25519, std::vector<uint8_t>(33)), Error,
                       IsInvalidInput());
  CHECK_THROWS_MATCHES(public_key_sha256(KeyAlgorithm::ecdsa_p256, std::vector<uint8_t>(64)), Error,
                       IsInvalidInput());
  std::vector<uint8_t> off_curve(65, 1);
  off_curve[0] = 0x04;
  CHECK_THROWS_MATCHES(public_key_sha256(KeyAlgorithm::ecdsa_p256, off_curve), Error,
                       IsInvalidInput());
  std::vector<uint8_t> compressed(65, 1);
  compressed[0] = 0x02;
  CHECK_THROWS_MATCHES(public_key_sha256(KeyAlgorithm::ecdsa_p256, compressed), Error,
                       IsInvalidInput());
}

TEST_CASE("algorithm, class and key type names round-trip", "[unit]") {
  CHECK(parse_key_algorithm("ed25519") == KeyAlgorithm::ed25519);
  CHECK(parse_key_algorithm("ecdsa-p256") == KeyAlgorithm::ecdsa_p256);
  CHECK(to_string(KeyAlgorithm::ecdsa_p256) == "ecdsa-p256");
  CHECK_THROWS_MATCHES(parse_key_algorithm("Ed25519"), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(parse_key_algorithm("ecdsa_p256"), Error, IsInvalidInput());
  for (const auto c : {ObjectClass::data, ObjectClass::private_key, ObjectClass::hw_feature,
                       ObjectClass::domain_parameters, ObjectClass::vendor_defined}) {
    CHECK(parse_object_class(to_string(c)) == c);
  }
  CHECK(to_string(ObjectClass::private_key) == "private-key");
  CHECK(to_string(KeyType::ec_edwards) == "ec-edwards");
  CHECK(parse_key_type("generic-secret") == KeyType::generic_secret);
  CHECK_THROWS_MATCHES(parse_object_class("private_key"), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(parse_key_type("ed25519"), Error, IsInvalidInput());
  CHECK(attribute_names().size() == 21);
  CHECK(is_attribute_name("wrap_with_trusted"));
  CHECK_FALSE(is_attribute_name("value"));
}
