// Signing round trips with keys generated in the test: the server's path (sign the note
// message, as an HSM would, format the vkey and the signature line) checked by the verifier.
#include "audit/ecdsa.h"

#include <catch2/catch.hpp>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit/checkpoint.h"
#include "audit/note.h"
#include "audit/openssl_ptr.h"
#include "audit/verifier_key.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::IsInvalidInput;
using test::IsMismatch;

namespace {

EvpPkeyPtr generate(const char* type, const char* curve) {
  EvpPkeyPtr key(curve ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve)
                       : EVP_PKEY_Q_keygen(nullptr, nullptr, type));
  REQUIRE(key);
  return key;
}

std::vector<uint8_t> spki_of(EVP_PKEY* key) {
  const int length = i2d_PUBKEY(key, nullptr);
  REQUIRE(length > 0);
  std::vector<uint8_t> out(static_cast<std::size_t>(length));
  unsigned char* p = out.data();
  REQUIRE(i2d_PUBKEY(key, &p) == length);
  return out;
}

std::vector<uint8_t> sign(EVP_PKEY* key, const EVP_MD* md, std::span<const uint8_t> message) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) == 1);
  std::size_t length = 0;
  REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &length, message.data(), message.size()) == 1);
  std::vector<uint8_t> sig(length);
  REQUIRE(EVP_DigestSign(ctx.get(), sig.data(), &length, message.data(), message.size()) == 1);
  sig.resize(length);
  return sig;
}

const std::string kText = format_checkpoint("example.com/escrowless", 42, sha256(std::string_view("root")));

}  // namespace

TEST_CASE("ECDSA P-256 round trip through vkey, signature line and verify_note", "[unit]") {
  const EvpPkeyPtr key = generate("EC", "P-256");
  // The token hands out the SEC1 point; the vkey needs the SPKI built from it.
  std::vector<uint8_t> point(65);
  std::size_t point_length = 0;
  REQUIRE(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                          point.data(), point.size(), &point_length) == 1);
  REQUIRE(point_length == 65);
  const std::vector<uint8_t> spki = ecdsa_p256_spki_from_point(point);
  CHECK(spki == spki_of(key.get()));

  const std::string vkey = format_verifier_key("example.com/escrowless", SignatureType::ecdsa, spki);
  const std::vector<VerifierKey> keys = {parse_verifier_key(vkey)};
  CHECK(keys[0].key_id() == compute_key_id("example.com/escrowless", SignatureType::ecdsa, spki));

  // The token returns raw r || s; the note carries DER.
  const std::vector<uint8_t> der = sign(key.get(), EVP_sha256(), note_signed_message(kText));
  const std::vector<uint8_t> raw = ecdsa_signature_der_to_raw(der, 32);
  REQUIRE(raw.size() == 64);
  CHECK(ecdsa_signature_raw_to_der(raw) == der);

  const std::string line = format_signature_line("example.com/escrowless", keys[0].key_id(),
                                                 ecdsa_signature_raw_to_der(raw));
  const std::string note = append_signature(kText, line);
  const VerifiedNote verified = verify_note(note, keys);
  CHECK(verified.text == kText);
  CHECK(open_checkpoint(note, "example.com/escrowless", keys).size == 42);

  SECTION("tampered text") {
    std::string tampered = note;
    tampered.replace(tampered.find("\n42\n"), 4, "\n43\n");
    REQUIRE_THROWS_MATCHES(verify_note(tampered, keys), Error, IsMismatch());
  }
  SECTION("tampered signature") {
    std::vector<uint8_t> bad = raw;
    bad[63] ^= 0x01;
    const std::string tampered = append_signature(
        kText, format_signature_line("example.com/escrowless", keys[0].key_id(), ecdsa_signature_raw_to_der(bad)));
    REQUIRE_THROWS_MATCHES(verify_note(tampered, keys), Error, IsMismatch());
  }
  SECTION("another key's signature under this key's name and id") {
    const EvpPkeyPtr other = generate("EC", "P-256");
    const std::string forged = append_signature(
        kText, format_signature_line("example.com/escrowless", keys[0].key_id(),
                                     sign(other.get(), EVP_sha256(), note_signed_message(kText))));
    REQUIRE_THROWS_MATCHES(verify_note(forged, keys), Error, IsMismatch());
  }
  SECTION("raw r || s instead of DER is malformed") {
    const std::string wrong = append_signature(
        kText, format_signature_line("example.com/escrowless", keys[0].key_id(), raw));
    REQUIRE_THROWS_MATCHES(verify_note(wrong, keys), Error, IsInvalidInput());
  }
}

TEST_CASE("ECDSA P-384 keys verify with SHA-256 digests, as the reference does", "[unit]") {
  const EvpPkeyPtr key = generate("EC", "P-384");
  const std::vector<uint8_t> spki = spki_of(key.get());
  const std::vector<VerifierKey> keys = {VerifierKey::create("p384.example", SignatureType::ecdsa, spki)};
  const std::string note = append_signature(
      kText, format_signature_line("p384.example", keys[0].key_id(),
                                   sign(key.get(), EVP_sha256(), note_signed_message(kText))));
  CHECK_NOTHROW(verify_note(note, keys));
}

TEST_CASE("ECDSA keys on other curves or in other forms are rejected", "[unit]") {
  const EvpPkeyPtr k256 = generate("EC", "secp256k1");
  CHECK_THROWS_MATCHES(VerifierKey::create("n", SignatureType::ecdsa, spki_of(k256.get())), Error,
                       IsInvalidInput());
  const EvpPkeyPtr ed = generate("ED25519", nullptr);
  CHECK_THROWS_MATCHES(VerifierKey::create("n", SignatureType::ecdsa, spki_of(ed.get())), Error,
                       IsInvalidInput());
  // The same P-256 key with a compressed point: valid SPKI, but not the form the spec's
  // reference (Go x509) accepts, and a second key id for one key.
  const EvpPkeyPtr key = generate("EC", "P-256");
  REQUIRE(EVP_PKEY_set_utf8_string_param(key.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                         "compressed") == 1);
  const std::vector<uint8_t> compressed = spki_of(key.get());
  CHECK(compressed.size() < 91);
  CHECK_THROWS_MATCHES(VerifierKey::create("n", SignatureType::ecdsa, compressed), Error,
                       IsInvalidInput());
}

TEST_CASE("Ed25519 round trip through vkey, signature line and verify_note", "[unit]") {
  const EvpPkeyPtr key = generate("ED25519", nullptr);
  std::vector<uint8_t> public_key(32);
  std::size_t length = public_key.size();
  REQUIRE(EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length) == 1);
  const std::vector<VerifierKey> keys = {
      parse_verifier_key(format_verifier_key("example.com/ed", SignatureType::ed25519, public_key))};
  const std::string note = append_signature(
      kText, format_signature_line("example.com/ed", keys[0].key_id(),
                                   sign(key.get(), nullptr, note_signed_message(kText))));
  CHECK_NOTHROW(verify_note(note, keys));
  std::string tampered = note;
  tampered[0] = 'E';
  REQUIRE_THROWS_MATCHES(verify_note(tampered, keys), Error, IsMismatch());
}

TEST_CASE("ECDSA signature conversions reject malformed input", "[unit]") {
  CHECK_THROWS_MATCHES(ecdsa_signature_raw_to_der({}), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(ecdsa_signature_raw_to_der(std::vector<uint8_t>(63, 1)), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(ecdsa_signature_raw_to_der(std::vector<uint8_t>(134, 1)), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(ecdsa_signature_raw_to_der(std::vector<uint8_t>(64, 0)), Error, IsInvalidInput());
  std::vector<uint8_t> r_zero(64, 1);
  std::fill(r_zero.begin(), r_zero.begin() + 32, 0);
  CHECK_THROWS_MATCHES(ecdsa_signature_raw_to_der(r_zero), Error, IsInvalidInput());

  // Leading zero bytes of r and s are dropped by DER and restored by the conversion back.
  std::vector<uint8_t> raw(64, 0);
  raw[31] = 0x05;
  raw[32] = 0x80;
  raw[63] = 0x01;
  const std::vector<uint8_t> der = ecdsa_signature_raw_to_der(raw);
  CHECK(der == std::vector<uint8_t>{0x30, 0x26, 0x02, 0x01, 0x05, 0x02, 0x21, 0x00, 0x80,
                                    0,    0,    0,    0,    0,    0,    0,    0,    0,
                                    0,    0,    0,    0,    0,    0,    0,    0,    0,
                                    0,    0,    0,    0,    0,    0,    0,    0,    0,
                                    0,    0,    0,    0x01});
  CHECK(ecdsa_signature_der_to_raw(der, 32) == raw);

  std::vector<uint8_t> trailing = der;
  trailing.push_back(0);
  CHECK_THROWS_MATCHES(check_ecdsa_signature_der(trailing), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(check_ecdsa_signature_der({}), Error, IsInvalidInput());
  // Non-minimal INTEGER (a superfluous leading zero): BER, not DER.
  const std::vector<uint8_t> non_minimal = {0x30, 0x07, 0x02, 0x02, 0x00, 0x05, 0x02, 0x01, 0x01};
  CHECK_THROWS_MATCHES(check_ecdsa_signature_der(non_minimal), Error, IsInvalidInput());
  // Long-form length where the short form fits.
  const std::vector<uint8_t> long_length = {0x30, 0x81, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x01};
  CHECK_THROWS_MATCHES(check_ecdsa_signature_der(long_length), Error, IsInvalidInput());
  const std::vector<uint8_t> zero_r = {0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01};
  CHECK_THROWS_MATCHES(check_ecdsa_signature_der(zero_r), Error, IsInvalidInput());
  const std::vector<uint8_t> negative_s = {0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x81};
  CHECK_THROWS_MATCHES(check_ecdsa_signature_der(negative_s), Error, IsInvalidInput());
  CHECK_NOTHROW(check_ecdsa_signature_der(std::vector<uint8_t>{0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x01}));
  CHECK_THROWS_MATCHES(ecdsa_signature_der_to_raw(der, 0), Error, IsInvalidInput());
  // r needs 1 byte, s needs 32 (0x80 then 31 more): it doesn't fit 16-byte halves.
  CHECK_THROWS_MATCHES(ecdsa_signature_der_to_raw(der, 16), Error, IsInvalidInput());

  CHECK_THROWS_MATCHES(ecdsa_p256_spki_from_point(std::vector<uint8_t>(65, 0x04)), Error,
                       IsInvalidInput());  // not on the curve
  CHECK_THROWS_MATCHES(ecdsa_p256_spki_from_point(std::vector<uint8_t>(33, 0x02)), Error,
                       IsInvalidInput());  // compressed form
  CHECK_THROWS_MATCHES(ecdsa_p256_spki_from_point({}), Error, IsInvalidInput());
}
