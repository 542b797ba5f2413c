// Known answers of the prekey formats (docs/protocol.md), made once with an independent
// implementation and pyca/cryptography (tests/data/prekeys/README.md): any change to the
// message, the leaf or the batch root fails here.
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <sstream>
#include <string>

#include "audit/encoding.h"
#include "audit/key_algorithm.h"
#include "audit/openssl_ptr.h"
#include "audit/prekey.h"
#include "audit/prekey_batch.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using nlohmann::json;

namespace {

std::string str(const json& value, const char* key) { return value.at(key).get<std::string>(); }
std::vector<uint8_t> hex(const json& value, const char* key) { return hex_decode(str(value, key)); }

const json& vectors() {
  static const json loaded = test::load_json("prekeys/vectors.json");
  return loaded;
}

// RFC 8032 section 7.1 TEST 1, the key the vectors are signed with.
constexpr std::string_view kTest1Secret =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr std::string_view kTest1Public =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

// Ed25519 is deterministic: re-signing with OpenSSL must give the stored signature.
std::vector<uint8_t> ed25519_sign(std::string_view secret_hex, std::span<const uint8_t> message) {
  const std::vector<uint8_t> secret = hex_decode(secret_hex);
  const EvpPkeyPtr key(
      EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, secret.data(), secret.size()));
  REQUIRE(key);
  const EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  REQUIRE(EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key.get(),
                                nullptr) == 1);
  std::vector<uint8_t> signature(64);
  std::size_t length = signature.size();
  REQUIRE(EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(), message.size()) ==
          1);
  REQUIRE(length == 64);
  return signature;
}

}  // namespace

TEST_CASE("prekey signature messages and signatures match the known answers", "[vectors]") {
  const json& cases = vectors().at("signatures");
  REQUIRE(cases.size() == 6);
  for (const json& v : cases) {
    INFO(str(v, "name"));
    const PrekeyKind kind = parse_prekey_kind(str(v, "kind"));
    const KeyAlgorithm algorithm = parse_key_algorithm(str(v, "algorithm"));
    const std::vector<uint8_t> message =
        prekey_signature_message(kind, str(v, "account"), str(v, "device"),
                                 v.at("key_id").get<uint32_t>(), hex(v, "public_key"));
    CHECK(hex_encode(message) == str(v, "message"));
    CHECK(verify_prekey_signature(algorithm, hex(v, "identity_key"), message, hex(v, "signature")));
    if (algorithm == KeyAlgorithm::ed25519) {
      CHECK(str(v, "identity_key") == kTest1Public);
      CHECK(hex_encode(ed25519_sign(kTest1Secret, message)) == str(v, "signature"));
    }
  }
}

TEST_CASE("the first vector's message is the byte table of docs/protocol.md", "[vectors]") {
  const json& v = test::find_case(vectors().at("signatures"), "signed_prekey");
  // Field by field: length (2 bytes, big-endian), then the bytes. Appended one at a time, as
  // a long chain of std::string + trips GCC 12's false -Wrestrict in Release builds.
  std::string expected = "001e";
  expected += hex_encode(test::bytes_of("escrowless prekey signature v1"));
  expected += "000d";
  expected += hex_encode(test::bytes_of("signed_prekey"));
  expected += "0005616c696365";  // "alice"
  expected += "000570686f6e65";  // "phone"
  expected += "000400000001";    // key id 1
  expected += "0020";
  expected += "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
  CHECK(str(v, "message") == expected);
}

TEST_CASE("prekey batch leaves, roots and proofs match the known answers", "[vectors]") {
  const json& cases = vectors().at("batches");
  REQUIRE(cases.size() == 2);
  const std::vector<uint8_t> identity_key = hex_decode(kTest1Public);
  for (const json& b : cases) {
    INFO(str(b, "name"));
    const PrekeyKind kind = parse_prekey_kind(str(b, "kind"));
    std::vector<PrekeyBatchItem> items;
    for (const json& item : b.at("items")) {
      items.push_back(PrekeyBatchItem{kind, item.at("key_id").get<uint32_t>(),
                                      hex(item, "public_key"), hex(item, "signature")});
    }
    const Hash root = test::hash_from_hex(str(b, "root"));
    CHECK(prekey_batch_root(items) == root);
    const auto count = static_cast<uint32_t>(items.size());
    for (uint32_t i = 0; i < count; ++i) {
      INFO("item " << i);
      const json& expected = b.at("items").at(i);
      const PrekeyBatchItem& item = items[i];
      CHECK(hex_encode(prekey_batch_leaf(kind, item.key_id, item.public_key, item.signature)) ==
            str(expected, "leaf"));
      CHECK(to_hex(prekey_batch_leaf_hash(kind, item.key_id, item.public_key, item.signature)) ==
            str(expected, "leaf_hash"));
      const std::vector<Hash> proof = prekey_batch_proof(items, i);
      CHECK(proof == test::hashes_from_hex(expected.at("proof")));
      CHECK_NOTHROW(verify_prekey_in_batch(kind, item.key_id, item.public_key, item.signature, i,
                                           count, proof, root));
      const std::vector<uint8_t> message = prekey_signature_message(
          kind, str(b, "account"), str(b, "device"), item.key_id, item.public_key);
      CHECK(verify_prekey_signature(KeyAlgorithm::ed25519, identity_key, message, item.signature));
      CHECK(ed25519_sign(kTest1Secret, message) == item.signature);
    }
  }
}

TEST_CASE("docs/protocol.md shows the first vector's message and signature", "[vectors]") {
  const json& v = test::find_case(vectors().at("signatures"), "signed_prekey");
  const std::string docs = test::read_data_file("../../docs/protocol.md");
  const std::size_t start = docs.find("The 101 message bytes");
  REQUIRE(start != std::string::npos);
  // The indented lines after it: a length field and its content, in hex, then a comment.
  std::istringstream lines(docs.substr(start));
  std::string line;
  std::string shown;
  std::getline(lines, line);  // the sentence itself
  std::getline(lines, line);  // blank
  while (std::getline(lines, line) && line.rfind("    ", 0) == 0) {
    std::istringstream fields(line);
    std::string length;
    std::string content;
    fields >> length >> content;
    shown += length;
    shown += content;
  }
  CHECK(shown == str(v, "message"));
  // Built with += (a "`" + s + "`" chain trips GCC 12's false -Wrestrict at -O3).
  for (const char* key : {"signature", "identity_key"}) {
    std::string quoted = "`";
    quoted += str(v, key);
    quoted += '`';
    CHECK(docs.find(quoted) != std::string::npos);
  }
}
