// C2SP tlog-cosignature cosignature/v1 against the spec's examples, transparency-dev/formats'
// keys and timestamps, and a cosignature computed by Go's crypto/ed25519 (tests/data/README.md).
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include "audit/cosignature.h"
#include "audit/note.h"
#include "audit/openssl_ptr.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using nlohmann::json;
using test::IsInvalidInput;
using test::IsMismatch;

namespace {

const json& answers() {
  static const json loaded = test::load_json("cosignature/known_answers.json");
  return loaded;
}

std::string str(const json& j, const char* key) { return j.at(key).get<std::string>(); }

// An Ed25519 signer holding `secret` (the token's part in production).
Ed25519Signer signer_of(const std::vector<uint8_t>& secret) {
  return [secret](std::span<const uint8_t> message) {
    const EvpPkeyPtr key(EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, secret.data(), secret.size()));
    REQUIRE(key);
    const EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    REQUIRE(EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key.get(), nullptr) == 1);
    std::vector<uint8_t> signature(64);
    std::size_t length = signature.size();
    REQUIRE(EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(), message.size()) == 1);
    return signature;
  };
}

}  // namespace

TEST_CASE("cosignature: the signed message is the spec's example byte for byte", "[vectors]") {
  const json& example = answers().at("spec_example");
  const std::vector<uint8_t> message =
      cosignature_message(str(example, "checkpoint_text"), example.at("timestamp").get<uint64_t>());
  CHECK(std::string(message.begin(), message.end()) == str(example, "signed_message"));
  CHECK_THROWS_MATCHES(cosignature_message(str(example, "checkpoint_text"), kMaxCosignatureTimestamp + 1), Error,
                       IsInvalidInput());
  CHECK_THROWS_MATCHES(cosignature_message("no final newline", 1), Error, IsInvalidInput());
}

TEST_CASE("cosignature: the spec's cosigned checkpoint and formats' signature carry their timestamps", "[vectors]") {
  const json& example = answers().at("spec_example");
  const Note note = parse_note(str(example, "cosigned_note"));
  REQUIRE(note.signatures.size() == 2);
  const NoteSignature& witness = note.signatures[1];
  CHECK(witness.name == str(example, "witness_name"));
  CHECK(hex_encode(std::vector<uint8_t>{static_cast<uint8_t>(witness.key_id >> 24), static_cast<uint8_t>(witness.key_id >> 16),
                                        static_cast<uint8_t>(witness.key_id >> 8), static_cast<uint8_t>(witness.key_id)}) ==
        str(example, "witness_key_id"));
  CHECK(parse_cosignature(witness.signature).timestamp == example.at("timestamp").get<uint64_t>());
  // The log's own signature is no cosignature: 64 bytes, not 72.
  CHECK_THROWS_MATCHES(parse_cosignature(note.signatures[0].signature), Error, IsInvalidInput());

  const json& formats = answers().at("formats_timestamp");
  const std::vector<uint8_t> whole = base64_decode(str(formats, "signature_base64"));
  CHECK(parse_cosignature(std::span(whole).subspan(4)).timestamp == formats.at("timestamp").get<uint64_t>());
  std::vector<uint8_t> too_late(whole.begin() + 4, whole.end());
  too_late[0] = 0x80;  // 2^63: beyond what the spec allows
  CHECK_THROWS_MATCHES(parse_cosignature(too_late), Error, IsInvalidInput());
}

TEST_CASE("cosignature: witness vkeys of type 0x04, and Ed25519 note keys read as the same key", "[vectors]") {
  const json& vkeys = answers().at("formats_vkeys");
  const CosignerKey native = parse_cosigner_key(vkeys.at("valid")[0].get<std::string>());
  CHECK(native.name() == "remora.n621.de");
  CHECK(native.to_string() == vkeys.at("valid")[0].get<std::string>());
  const CosignerKey converted = parse_cosigner_key(vkeys.at("valid")[1].get<std::string>());
  CHECK(converted.name() == "TEST");
  CHECK(converted.key_id() == cosigner_key_id("TEST", converted.public_key()));
  CHECK(converted.to_string().starts_with("TEST+"));
  CHECK(parse_cosigner_key(converted.to_string()).public_key() == converted.public_key());
  for (const json& bad : vkeys.at("invalid")) {
    INFO(bad.get<std::string>());
    CHECK_THROWS_MATCHES(parse_cosigner_key(bad.get<std::string>()), Error, IsInvalidInput());
  }
  // A key id that does not match, and an ECDSA note key, are refused.
  std::string wrong_id = vkeys.at("valid")[0].get<std::string>();
  wrong_id.replace(wrong_id.find('+') + 1, 8, "00000000");
  CHECK_THROWS_MATCHES(parse_cosigner_key(wrong_id), Error, IsInvalidInput());
}

TEST_CASE("cosignature: signing and verifying match Go's crypto/ed25519", "[vectors]") {
  const json& known = answers().at("rfc8032_cosignature");
  const CosignerKey key = parse_cosigner_key(str(known, "vkey"));
  CHECK(hex_encode(key.public_key()) == str(known, "public"));
  CHECK(key.to_string() == str(known, "vkey"));
  const std::string text = str(known, "checkpoint_text");
  const uint64_t timestamp = known.at("timestamp").get<uint64_t>();
  const std::string line = cosignature_line(key, text, timestamp, signer_of(hex_decode(str(known, "secret"))));
  CHECK(line == str(known, "line"));

  // Verified on a checkpoint that carries it among other signatures.
  const std::string cosigned = str(answers().at("spec_example"), "cosigned_note") + line;
  const Note note = parse_note(cosigned);
  CHECK(verify_cosignature(note, key) == timestamp);
  // A witness that did not cosign is absent, not an error.
  const CosignerKey other = parse_cosigner_key(answers().at("formats_vkeys").at("valid")[0].get<std::string>());
  CHECK_FALSE(verify_cosignature(note, other).has_value());
  // Another checkpoint, or another time, does not verify under the same signature.
  Note changed = note;
  changed.text = "example.com/behind-the-sofa\n20852164\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  CHECK_THROWS_MATCHES(verify_cosignature(changed, key), Error, IsMismatch());
  Note later = note;
  later.signatures.back().signature[7] ^= 1;
  CHECK_THROWS_MATCHES(verify_cosignature(later, key), Error, IsMismatch());

  // A signer that does not hold the key is caught before its line is handed out.
  std::vector<uint8_t> other_secret = hex_decode(str(known, "secret"));
  other_secret[0] ^= 1;
  CHECK_THROWS_MATCHES(cosignature_line(key, text, timestamp, signer_of(other_secret)), Error, IsMismatch());
}
