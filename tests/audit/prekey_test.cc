// Prekey signature messages and their verification: every field is bound, sizes and ids are
// checked, and a P-256 identity key works the way the server's token signs (SHA-256, then
// CKM_ECDSA, raw r || s).
#include "audit/prekey.h"

#include <catch2/catch.hpp>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <string>
#include <thread>
#include <vector>

#include "audit/ecdsa.h"
#include "audit/encoding.h"
#include "audit/openssl_ptr.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using nlohmann::json;
using test::IsInvalidInput;
using test::IsMismatch;

namespace {

constexpr PrekeyKind kKinds[] = {PrekeyKind::signed_prekey, PrekeyKind::pq_last_resort_prekey,
                                 PrekeyKind::one_time_prekey, PrekeyKind::pq_one_time_prekey};

// One signed prekey of the known-answer file, as typed values.
struct Signed {
  KeyAlgorithm algorithm;
  std::vector<uint8_t> identity_key;
  PrekeyKind kind;
  std::string account;
  std::string device;
  uint32_t key_id;
  std::vector<uint8_t> public_key;
  std::vector<uint8_t> signature;

  std::vector<uint8_t> message() const {
    return prekey_signature_message(kind, account, device, key_id, public_key);
  }
  bool verifies() const {
    return verify_prekey_signature(algorithm, identity_key, message(), signature);
  }
};

Signed vector_case(std::string_view name) {
  static const json vectors = test::load_json("prekeys/vectors.json");
  const json& v = test::find_case(vectors.at("signatures"), name);
  const auto str = [&](const char* key) { return v.at(key).get<std::string>(); };
  return Signed{parse_key_algorithm(str("algorithm")),
                hex_decode(str("identity_key")),
                parse_prekey_kind(str("kind")),
                str("account"),
                str("device"),
                v.at("key_id").get<uint32_t>(),
                hex_decode(str("public_key")),
                hex_decode(str("signature"))};
}

// A P-256 key made by OpenSSL, signing as the server does with the token.
struct P256Signer {
  EvpPkeyPtr key{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")};

  std::vector<uint8_t> point() const {
    std::vector<uint8_t> out(65);
    std::size_t length = 0;
    REQUIRE(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                            out.data(), out.size(), &length) == 1);
    REQUIRE(length == 65);
    return out;
  }

  // SHA-256 in software, then a signature over the bare digest (CKM_ECDSA), DER from OpenSSL
  // converted to raw r || s, which is what pkcs11::sign returns.
  std::vector<uint8_t> sign(std::span<const uint8_t> message) const {
    const Hash digest = sha256(message);
    const EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    REQUIRE(ctx);
    REQUIRE(EVP_PKEY_sign_init(ctx.get()) == 1);
    std::size_t length = 0;
    REQUIRE(EVP_PKEY_sign(ctx.get(), nullptr, &length, digest.data(), digest.size()) == 1);
    std::vector<uint8_t> der(length);
    REQUIRE(EVP_PKEY_sign(ctx.get(), der.data(), &length, digest.data(), digest.size()) == 1);
    der.resize(length);
    return ecdsa_signature_der_to_raw(der, 32);
  }
};

std::vector<uint8_t> flipped(std::vector<uint8_t> bytes, std::size_t bit) {
  bytes.at(bit / 8) ^= static_cast<uint8_t>(1u << (bit % 8));
  return bytes;
}

}  // namespace

TEST_CASE("prekey kinds: names, sizes, one-time", "[unit]") {
  CHECK(to_string(PrekeyKind::signed_prekey) == "signed_prekey");
  CHECK(to_string(PrekeyKind::pq_last_resort_prekey) == "pq_last_resort_prekey");
  CHECK(to_string(PrekeyKind::one_time_prekey) == "one_time_prekey");
  CHECK(to_string(PrekeyKind::pq_one_time_prekey) == "pq_one_time_prekey");
  for (const PrekeyKind kind : kKinds) CHECK(parse_prekey_kind(to_string(kind)) == kind);
  for (const std::string_view bad :
       {"", "signed-prekey", "Signed_prekey", "one_time_prekeys", "signed_prekey\n", "x25519"}) {
    INFO(bad);
    CHECK_THROWS_MATCHES(parse_prekey_kind(bad), Error, IsInvalidInput());
  }
  CHECK(prekey_size(PrekeyKind::signed_prekey) == 32);
  CHECK(prekey_size(PrekeyKind::one_time_prekey) == 32);
  CHECK(prekey_size(PrekeyKind::pq_last_resort_prekey) == 1184);
  CHECK(prekey_size(PrekeyKind::pq_one_time_prekey) == 1184);
  CHECK_FALSE(is_one_time(PrekeyKind::signed_prekey));
  CHECK_FALSE(is_one_time(PrekeyKind::pq_last_resort_prekey));
  CHECK(is_one_time(PrekeyKind::one_time_prekey));
  CHECK(is_one_time(PrekeyKind::pq_one_time_prekey));
}

TEST_CASE("prekey messages refuse keys of the wrong size", "[unit]") {
  for (const PrekeyKind kind : kKinds) {
    const std::size_t size = prekey_size(kind);
    CHECK_NOTHROW(prekey_signature_message(kind, "alice", "phone", 1, std::vector<uint8_t>(size)));
    for (const std::size_t wrong :
         {std::size_t{0}, size - 1, size + 1, size == 32 ? std::size_t{1184} : std::size_t{32}}) {
      INFO(to_string(kind) << " with " << wrong << " bytes");
      CHECK_THROWS_MATCHES(
          prekey_signature_message(kind, "alice", "phone", 1, std::vector<uint8_t>(wrong)), Error,
          IsInvalidInput());
    }
  }
  CHECK_THROWS_WITH(prekey_signature_message(PrekeyKind::one_time_prekey, "alice", "phone", 1,
                                             std::vector<uint8_t>(31)),
                    "one_time_prekey public keys are 32 bytes (X25519), got 31");
  CHECK_THROWS_WITH(prekey_signature_message(PrekeyKind::signed_prekey, "alice", "phone", 1,
                                             std::vector<uint8_t>(33)),
                    "signed_prekey public keys are 32 bytes (X25519), got 33");
  CHECK_THROWS_WITH(prekey_signature_message(PrekeyKind::pq_last_resort_prekey, "alice", "phone", 1,
                                             std::vector<uint8_t>(1183)),
                    "pq_last_resort_prekey public keys are 1184 bytes (ML-KEM-768), got 1183");
  CHECK_THROWS_WITH(prekey_signature_message(PrekeyKind::pq_one_time_prekey, "alice", "phone", 1,
                                             std::vector<uint8_t>(1183)),
                    "pq_one_time_prekey public keys are 1184 bytes (ML-KEM-768), got 1183");
}

TEST_CASE("prekey messages refuse invalid account and device ids", "[unit]") {
  const std::vector<uint8_t> key(32);
  const std::string longest(kMaxIdLength, 'a');
  CHECK_NOTHROW(prekey_signature_message(PrekeyKind::signed_prekey, longest, longest, 0, key));
  for (const std::string& bad :
       {std::string(), std::string(kMaxIdLength + 1, 'a'), std::string("a/b"), std::string("a b"),
        std::string("al:ce"), std::string("t\xc3\xa9l"), std::string("a\0b", 3)}) {
    INFO("id " << hex_encode(test::bytes_of(bad)));
    CHECK_THROWS_MATCHES(prekey_signature_message(PrekeyKind::signed_prekey, bad, "phone", 0, key),
                         Error, IsInvalidInput());
    CHECK_THROWS_MATCHES(prekey_signature_message(PrekeyKind::signed_prekey, "alice", bad, 0, key),
                         Error, IsInvalidInput());
  }
  CHECK_THROWS_WITH(
      prekey_signature_message(PrekeyKind::signed_prekey, "alice", "../phone", 0, key),
      "prekey device id must be 1 to 64 characters from [A-Za-z0-9._-], got "
      "\"../phone\"");
}

TEST_CASE("length prefixes keep field boundaries apart", "[unit]") {
  const std::vector<uint8_t> key(32, 7);
  // The same concatenated characters, split differently between account and device.
  const auto m1 = prekey_signature_message(PrekeyKind::signed_prekey, "ab", "c", 1, key);
  const auto m2 = prekey_signature_message(PrekeyKind::signed_prekey, "a", "bc", 1, key);
  CHECK(m1 != m2);
  CHECK(m1.size() == m2.size());
  // The message starts with its context field, which no note text or JSON entry can (0x00).
  const auto m = prekey_signature_message(PrekeyKind::pq_one_time_prekey, "a", "b", 0x01020304,
                                          std::vector<uint8_t>(1184, 1));
  CHECK(hex_encode(std::span(m).first(32)) ==
        "001e" + hex_encode(test::bytes_of(kPrekeySignatureContext)));
  CHECK(hex_encode(std::span(m).subspan(32, 20)) ==
        "0012" + hex_encode(test::bytes_of("pq_one_time_prekey")));
  CHECK(hex_encode(std::span(m).subspan(52, 12)) ==
        "000161000162"
        "000401020304");
  CHECK(hex_encode(std::span(m).subspan(64, 2)) == "04a0");  // 1184
  CHECK(m.size() == 66 + 1184);
}

TEST_CASE("every field of the message is bound by the signature", "[unit]") {
  const Signed original = vector_case("signed_prekey");
  REQUIRE(original.verifies());

  Signed changed = original;
  changed.kind = PrekeyKind::one_time_prekey;  // same key size: only the kind differs
  CHECK_FALSE(changed.verifies());

  for (const char* account : {"alicf", "Alice", "alice1", "alic", "bob"}) {
    INFO(account);
    changed = original;
    changed.account = account;
    CHECK_FALSE(changed.verifies());
  }
  for (const char* device : {"phonf", "Phone", "phone2", "laptop"}) {
    INFO(device);
    changed = original;
    changed.device = device;
    CHECK_FALSE(changed.verifies());
  }
  // Swapping account and device is a different message too.
  changed = original;
  std::swap(changed.account, changed.device);
  CHECK_FALSE(changed.verifies());

  for (const uint32_t key_id : {0u, 2u, 0x100u | 1u, 0x10000u | 1u, 0x1000000u | 1u, 0xffffffffu}) {
    INFO(key_id);
    changed = original;
    changed.key_id = key_id;
    CHECK_FALSE(changed.verifies());
  }
  for (std::size_t bit = 0; bit < 8 * original.public_key.size(); ++bit) {
    INFO("public key bit " << bit);
    changed = original;
    changed.public_key = flipped(original.public_key, bit);
    CHECK_FALSE(changed.verifies());
  }
  for (std::size_t bit = 0; bit < 8 * original.signature.size(); ++bit) {
    INFO("signature bit " << bit);
    changed = original;
    changed.signature = flipped(original.signature, bit);
    CHECK_FALSE(changed.verifies());
  }
  changed = original;
  changed.identity_key = vector_case("signed_prekey, ECDSA P-256").identity_key;
  changed.algorithm = KeyAlgorithm::ecdsa_p256;
  CHECK_FALSE(changed.verifies());
}

TEST_CASE("ML-KEM-768 prekeys are bound bit for bit", "[unit]") {
  const Signed original = vector_case("pq_last_resort_prekey, key id 2^32-1");
  REQUIRE(original.verifies());
  Signed changed = original;
  changed.kind = PrekeyKind::pq_one_time_prekey;
  CHECK_FALSE(changed.verifies());
  // One bit of every byte (a different bit position each time).
  for (std::size_t byte = 0; byte < original.public_key.size(); ++byte) {
    INFO("public key byte " << byte);
    changed = original;
    changed.public_key = flipped(original.public_key, 8 * byte + byte % 8);
    CHECK_FALSE(changed.verifies());
  }
}

TEST_CASE("verify_prekey_signature refuses malformed keys and signatures", "[unit]") {
  const Signed ed = vector_case("signed_prekey");
  const Signed p256 = vector_case("signed_prekey, ECDSA P-256");
  const auto message = ed.message();
  for (const std::size_t size : {0, 63, 65, 72}) {
    INFO("signature of " << size << " bytes");
    CHECK_THROWS_MATCHES(verify_prekey_signature(KeyAlgorithm::ed25519, ed.identity_key, message,
                                                 std::vector<uint8_t>(size, 1)),
                         Error, IsInvalidInput());
    CHECK_THROWS_MATCHES(verify_prekey_signature(KeyAlgorithm::ecdsa_p256, p256.identity_key,
                                                 message, std::vector<uint8_t>(size, 1)),
                         Error, IsInvalidInput());
  }
  for (const std::size_t size : {0, 31, 33, 65}) {
    INFO("Ed25519 key of " << size << " bytes");
    CHECK_THROWS_MATCHES(
        verify_prekey_signature(KeyAlgorithm::ed25519, std::vector<uint8_t>(size, 1), message,
                                ed.signature),
        Error, IsInvalidInput());
  }
  // P-256: an Ed25519-sized key, a compressed point, a point off the curve.
  std::vector<uint8_t> compressed(p256.identity_key.begin(), p256.identity_key.begin() + 33);
  compressed[0] = 0x02;
  std::vector<uint8_t> off_curve = p256.identity_key;
  off_curve.back() ^= 1;
  for (const auto& key : {ed.identity_key, compressed, off_curve}) {
    CHECK_THROWS_MATCHES(
        verify_prekey_signature(KeyAlgorithm::ecdsa_p256, key, p256.message(), p256.signature),
        Error, IsInvalidInput());
  }
}

TEST_CASE("P-256 identity keys: round trip with raw r || s signatures", "[unit]") {
  const P256Signer signer;
  REQUIRE(signer.key);
  const P256Signer other;
  REQUIRE(other.key);
  const std::vector<uint8_t> point = signer.point();
  for (const PrekeyKind kind : kKinds) {
    INFO(to_string(kind));
    const auto message = prekey_signature_message(kind, "alice", "phone", 7,
                                                  std::vector<uint8_t>(prekey_size(kind), 0x5a));
    const std::vector<uint8_t> signature = signer.sign(message);
    REQUIRE(signature.size() == 64);
    CHECK(verify_prekey_signature(KeyAlgorithm::ecdsa_p256, point, message, signature));
    // Another key, another message, a changed signature: no.
    CHECK_FALSE(
        verify_prekey_signature(KeyAlgorithm::ecdsa_p256, other.point(), message, signature));
    CHECK_FALSE(
        verify_prekey_signature(KeyAlgorithm::ecdsa_p256, point, flipped(message, 300), signature));
    for (const std::size_t bit : {0, 255, 256, 511}) {
      CHECK_FALSE(verify_prekey_signature(KeyAlgorithm::ecdsa_p256, point, message,
                                          flipped(signature, bit)));
    }
    // r = 0 or s = 0: well-formed size, never a valid signature.
    std::vector<uint8_t> zero_r = signature;
    std::fill(zero_r.begin(), zero_r.begin() + 32, 0);
    std::vector<uint8_t> zero_s = signature;
    std::fill(zero_s.begin() + 32, zero_s.end(), 0);
    CHECK_FALSE(verify_prekey_signature(KeyAlgorithm::ecdsa_p256, point, message, zero_r));
    CHECK_FALSE(verify_prekey_signature(KeyAlgorithm::ecdsa_p256, point, message, zero_s));
    // The DER form is not what the token returns, nor what the format carries.
    CHECK_THROWS_MATCHES(verify_prekey_signature(KeyAlgorithm::ecdsa_p256, point, message,
                                                 ecdsa_signature_raw_to_der(signature)),
                         Error, IsInvalidInput());
  }
}

TEST_CASE("verify_prekeys_signed with a P-256 identity key", "[unit]") {
  const P256Signer signer;
  REQUIRE(signer.key);
  const std::vector<uint8_t> point = signer.point();
  PrekeysSigned entry;
  entry.account = "carol";
  entry.device = "tablet";
  entry.identity_key_sha256 = public_key_sha256(KeyAlgorithm::ecdsa_p256, point);
  const std::vector<uint8_t> x25519(32, 3);
  const std::vector<uint8_t> mlkem(1184, 4);
  entry.signed_prekey = SignedPrekey{5, x25519,
                                     signer.sign(prekey_signature_message(
                                         PrekeyKind::signed_prekey, "carol", "tablet", 5, x25519))};
  entry.pq_last_resort_prekey =
      SignedPrekey{6, mlkem,
                   signer.sign(prekey_signature_message(PrekeyKind::pq_last_resort_prekey, "carol",
                                                        "tablet", 6, mlkem))};
  CHECK_NOTHROW(verify_prekeys_signed(entry, KeyAlgorithm::ecdsa_p256, point));

  PrekeysSigned changed = entry;
  changed.device = "phone";
  CHECK_THROWS_MATCHES(verify_prekeys_signed(changed, KeyAlgorithm::ecdsa_p256, point), Error,
                       IsMismatch());
  changed = entry;
  std::swap(changed.signed_prekey->signature, changed.pq_last_resort_prekey->signature);
  CHECK_THROWS_MATCHES(verify_prekeys_signed(changed, KeyAlgorithm::ecdsa_p256, point), Error,
                       IsMismatch());
  CHECK_THROWS_WITH(verify_prekeys_signed(changed, KeyAlgorithm::ecdsa_p256, point),
                    "prekeys.signed: signed_prekey: signature does not verify under the identity "
                    "key");
  changed = entry;
  changed.pq_last_resort_prekey->key_id = 7;
  CHECK_THROWS_WITH(verify_prekeys_signed(changed, KeyAlgorithm::ecdsa_p256, point),
                    "prekeys.signed: pq_last_resort_prekey: signature does not verify under the "
                    "identity key");
  // Another key than the one the entry names.
  const P256Signer other;
  REQUIRE(other.key);
  CHECK_THROWS_MATCHES(verify_prekeys_signed(entry, KeyAlgorithm::ecdsa_p256, other.point()), Error,
                       IsMismatch());
  CHECK_THROWS_WITH(verify_prekeys_signed(entry, KeyAlgorithm::ecdsa_p256, other.point()),
                    Catch::StartsWith("prekeys.signed: identity_key_sha256 is "));
  // A malformed key is the caller's input, not a mismatch.
  CHECK_THROWS_MATCHES(
      verify_prekeys_signed(entry, KeyAlgorithm::ecdsa_p256, std::vector<uint8_t>(64, 1)), Error,
      IsInvalidInput());
  // Batches alone: nothing signed to check in the entry, only the key hash.
  PrekeysSigned batches_only = entry;
  batches_only.signed_prekey.reset();
  batches_only.pq_last_resort_prekey.reset();
  batches_only.one_time_prekeys = PrekeyBatch{3, sha256(std::string_view("any root"))};
  CHECK_NOTHROW(verify_prekeys_signed(batches_only, KeyAlgorithm::ecdsa_p256, point));
}

TEST_CASE("a prepared identity key verifies exactly as the raw key does", "[unit]") {
  const P256Signer signer;
  REQUIRE(signer.key);
  for (const Signed& known : {vector_case("signed_prekey"), vector_case("signed_prekey, ECDSA P-256")}) {
    INFO(to_string(known.algorithm));
    const PreparedIdentityKey prepared(known.algorithm, known.identity_key);
    CHECK(prepared.algorithm() == known.algorithm);
    CHECK(prepared.sha256() == public_key_sha256(known.algorithm, known.identity_key));
    CHECK(prepared.verify(known.message(), known.signature));
    CHECK_FALSE(prepared.verify(flipped(known.message(), 9), known.signature));
    for (const std::size_t bit : {0, 255, 256, 511}) CHECK_FALSE(prepared.verify(known.message(), flipped(known.signature, bit)));
    CHECK_THROWS_MATCHES(prepared.verify(known.message(), std::vector<uint8_t>(63, 1)), Error, IsInvalidInput());
  }
  // Malformed keys fail to prepare, with the raw path's error kind.
  CHECK_THROWS_MATCHES(PreparedIdentityKey(KeyAlgorithm::ed25519, std::vector<uint8_t>(31, 1)), Error, IsInvalidInput());
  std::vector<uint8_t> off_curve = signer.point();
  off_curve.back() ^= 1;
  CHECK_THROWS_MATCHES(PreparedIdentityKey(KeyAlgorithm::ecdsa_p256, off_curve), Error, IsInvalidInput());
}

TEST_CASE("verify_prekeys_signed under a prepared key gives the raw key's answers and errors", "[unit]") {
  const P256Signer signer;
  REQUIRE(signer.key);
  const std::vector<uint8_t> point = signer.point();
  PrekeysSigned entry;
  entry.account = "carol";
  entry.device = "tablet";
  entry.identity_key_sha256 = public_key_sha256(KeyAlgorithm::ecdsa_p256, point);
  const std::vector<uint8_t> x25519(32, 3);
  const std::vector<uint8_t> mlkem(1184, 4);
  entry.signed_prekey = SignedPrekey{
      5, x25519, signer.sign(prekey_signature_message(PrekeyKind::signed_prekey, "carol", "tablet", 5, x25519))};
  entry.pq_last_resort_prekey = SignedPrekey{
      6, mlkem, signer.sign(prekey_signature_message(PrekeyKind::pq_last_resort_prekey, "carol", "tablet", 6, mlkem))};
  const PreparedIdentityKey prepared(KeyAlgorithm::ecdsa_p256, point);

  // The message of the raw path's error, or "" if it verifies; the prepared path must match.
  const auto raw_error = [&](const PrekeysSigned& e) -> std::string {
    try {
      verify_prekeys_signed(e, KeyAlgorithm::ecdsa_p256, point);
      return "";
    } catch (const Error& error) {
      return error.what();
    }
  };
  const auto prepared_error = [&](const PrekeysSigned& e) -> std::string {
    try {
      verify_prekeys_signed(e, prepared);
      return "";
    } catch (const Error& error) {
      return error.what();
    }
  };
  std::vector<PrekeysSigned> cases(6, entry);
  cases[1].device = "phone";
  std::swap(cases[2].signed_prekey->signature, cases[2].pq_last_resort_prekey->signature);
  cases[3].identity_key_sha256[0] ^= 1;
  cases[4].pq_last_resort_prekey->signature.resize(60);
  cases[5].signed_prekey->public_key.resize(31);
  CHECK(prepared_error(cases[0]).empty());
  for (std::size_t i = 1; i < cases.size(); ++i) {
    INFO("case " << i);
    const std::string expected = raw_error(cases[i]);
    CHECK_FALSE(expected.empty());
    CHECK(prepared_error(cases[i]) == expected);
  }
}

TEST_CASE("one prepared key verifies on several threads at once", "[unit][concurrency]") {
  const Signed known = vector_case("signed_prekey");
  const PreparedIdentityKey prepared(known.algorithm, known.identity_key);
  const auto message = known.message();
  const auto forged = flipped(known.signature, 100);
  std::vector<int> right(4, 0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < right.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        right[t] += prepared.verify(message, known.signature) ? 1 : 0;
        right[t] += prepared.verify(message, forged) ? 0 : 1;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const int count : right) CHECK(count == 100);
}
