#include "audit/verifier_key.h"

#include <catch2/catch.hpp>

#include "audit/encoding.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::IsInvalidInput;

namespace {
const std::string kPeter = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
}

TEST_CASE("verifier keys from the known-answer file parse and re-format unchanged", "[vectors]") {
  const auto data = test::load_json("signed_note/known_answers.json");
  std::size_t count = 0;
  for (const auto& item : data["valid"]) {
    for (const auto& vkey_json : item["verifier_keys"]) {
      const auto vkey = vkey_json.get<std::string>();
      INFO(vkey);
      const VerifierKey key = parse_verifier_key(vkey);
      CHECK(key.to_string() == vkey);
      CHECK(format_verifier_key(key.name(), key.type(), key.public_key()) == vkey);
      CHECK(compute_key_id(key.name(), key.type(), key.public_key()) == key.key_id());
      ++count;
    }
  }
  CHECK(count >= 7);
}

TEST_CASE("Ed25519 and ECDSA key ids follow their own rules", "[vectors]") {
  const VerifierKey peter = parse_verifier_key(kPeter);
  CHECK(peter.type() == SignatureType::ed25519);
  CHECK(peter.key_id() == 0xc74f20a3);
  CHECK(peter.public_key().size() == 32);
  // Type 0x02 key ids hash the SPKI alone: the same key under another name keeps its id.
  const auto data = test::load_json("signed_note/known_answers.json");
  for (const auto& item : data["valid"]) {
    const VerifierKey key = parse_verifier_key(item["verifier_keys"][0].get<std::string>());
    if (key.type() != SignatureType::ecdsa) continue;
    INFO(key.name());
    CHECK(compute_key_id("another.name/entirely", SignatureType::ecdsa, key.public_key()) ==
          key.key_id());
    CHECK(key.public_key().size() == 91);  // P-256 SPKI, uncompressed point
  }
  CHECK(compute_key_id("Peter", SignatureType::ed25519, peter.public_key()) != peter.key_id());
}

TEST_CASE("bad verifier keys from the known-answer file are rejected", "[vectors]") {
  const auto data = test::load_json("signed_note/known_answers.json");
  for (const auto& item : data["bad_verifier_keys"]) {
    INFO(item["why"].get<std::string>());
    REQUIRE_THROWS_MATCHES(parse_verifier_key(item["vkey"].get<std::string>()), Error,
                           IsInvalidInput());
  }
}

TEST_CASE("every substring and every single-byte change of a vkey is rejected", "[unit]") {
  for (std::size_t i = 0; i <= kPeter.size(); ++i) {
    for (std::size_t j = i + 1; j <= kPeter.size(); ++j) {
      if (i == 0 && j == kPeter.size()) continue;
      const std::string part = kPeter.substr(i, j - i);
      INFO(part);
      REQUIRE_THROWS_MATCHES(parse_verifier_key(part), Error, IsInvalidInput());
    }
  }
  for (std::size_t i = 0; i < kPeter.size(); ++i) {
    std::string changed = kPeter;
    ++changed[i];
    INFO(changed);
    REQUIRE_THROWS_MATCHES(parse_verifier_key(changed), Error, IsInvalidInput());
  }
}

TEST_CASE("verifier key syntax rules", "[unit]") {
  const std::string key64 = kPeter.substr(kPeter.rfind('+') + 1);
  // Uppercase hex: the spec's hex encoding is lowercase.
  CHECK_THROWS_MATCHES(parse_verifier_key("PeterNeumann+C74F20A3+" + key64), Error,
                       IsInvalidInput());
  CHECK_THROWS_MATCHES(parse_verifier_key("+c74f20a3+" + key64), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(parse_verifier_key("Peter Neumann+c74f20a3+" + key64), Error,
                       IsInvalidInput());
  CHECK_THROWS_MATCHES(parse_verifier_key("Peter\xC2\xA0Neumann+c74f20a3+" + key64), Error,
                       IsInvalidInput());  // U+00A0 no-break space
  CHECK_THROWS_MATCHES(parse_verifier_key("Peter\xFFNeumann+c74f20a3+" + key64), Error,
                       IsInvalidInput());  // invalid UTF-8
  CHECK_THROWS_MATCHES(parse_verifier_key(kPeter + "\n"), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(parse_verifier_key(""), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(parse_verifier_key("++"), Error, IsInvalidInput());
  // A key of an unsupported type with a correct general-rule id is still rejected.
  std::vector<uint8_t> typed = {0x04};
  typed.resize(33, 0x11);
  CHECK_THROWS_MATCHES(parse_verifier_key("n+00000000+" + base64_encode(typed)), Error,
                       IsInvalidInput());
  CHECK_THROWS_MATCHES(compute_key_id("bad+name", SignatureType::ed25519, std::vector<uint8_t>(32)),
                       Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(compute_key_id("name", static_cast<SignatureType>(9), std::vector<uint8_t>(32)),
                       Error, IsInvalidInput());
}

TEST_CASE("VerifierKey::create validates key material", "[unit]") {
  CHECK_THROWS_MATCHES(VerifierKey::create("n", SignatureType::ed25519, std::vector<uint8_t>(31)),
                       Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(VerifierKey::create("n", SignatureType::ecdsa, std::vector<uint8_t>(91)),
                       Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(VerifierKey::create("n", SignatureType::ecdsa, {}), Error,
                       IsInvalidInput());
  const auto data = test::load_json("signed_note/known_answers.json");
  const VerifierKey rekor = parse_verifier_key(
      test::find_case(data["valid"], "rekor-ecdsa-checkpoint")["verifier_keys"][0].get<std::string>());
  REQUIRE(rekor.type() == SignatureType::ecdsa);
  std::vector<uint8_t> trailing = rekor.public_key();
  trailing.push_back(0x00);
  CHECK_THROWS_MATCHES(VerifierKey::create("n", SignatureType::ecdsa, trailing), Error,
                       IsInvalidInput());
  std::vector<uint8_t> off_curve = rekor.public_key();
  off_curve.back() ^= 0x01;  // last byte of Y: the point leaves the curve
  CHECK_THROWS_MATCHES(VerifierKey::create("n", SignatureType::ecdsa, off_curve), Error,
                       IsInvalidInput());
}
