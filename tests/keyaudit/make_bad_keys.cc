// Test tool for tests/keyaudit/keyaudit_test.sh: puts on a token the three objects keyaudit must
// flag, through the PKCS#11 layer (raw C_GenerateKeyPair / C_GenerateKey via the module's
// function list, because our own templates refuse to make them):
//   bad-extractable  an Ed25519 private key with CKA_EXTRACTABLE true (otherwise well formed)
//   bad-wrap-aes     an AES-256 secret key able to wrap, unwrap, encrypt and decrypt
//   unlogged-signer  a proper sign-only key pair (pkcs11::generate_key_pair) that no entry logs
// Usage: make_bad_keys TOKEN_URI   (with SOFTHSM2_CONF set); prints the three labels.
//        make_bad_keys TOKEN_URI extractable-p256
//   only `bad-exposed-p256`, a P-256 private key that is extractable (or, where the token refuses
//   that, not sensitive), for tokens without EdDSA (tpm2-pkcs11; its environment set). Its
//   template says nothing about encrypt and decrypt, which tpm2-pkcs11 forces; prints the label
//   and what the key is.
//        make_bad_keys TOKEN_URI twin LABEL
//   plants a twin of the key pair labelled LABEL (tests/support/twin_key.h): a second sign-only
//   private key on its CKA_ID and label; prints the label.
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pkcs11/error.h"
#include "pkcs11/keys.h"
#include "pkcs11/token.h"
#include "tests/support/twin_key.h"

namespace p11 = escrowless::pkcs11;

namespace {

CK_ATTRIBUTE attr(CK_ATTRIBUTE_TYPE type, void* value, CK_ULONG size) { return {type, value, size}; }

void make_extractable_key(p11::SessionPool& pool) {
  const std::vector<std::uint8_t> id = p11::random_key_id();
  std::uint8_t ed25519_oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};  // DER OID 1.3.101.112
  char label[] = "bad-extractable";
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  std::vector<std::uint8_t> id_copy = id;
  std::vector<CK_ATTRIBUTE> public_template = {
      attr(CKA_EC_PARAMS, ed25519_oid, sizeof ed25519_oid), attr(CKA_ID, id_copy.data(), id_copy.size()),
      attr(CKA_LABEL, label, sizeof label - 1), attr(CKA_TOKEN, &yes, 1), attr(CKA_VERIFY, &yes, 1)};
  std::vector<CK_ATTRIBUTE> private_template = {
      attr(CKA_ID, id_copy.data(), id_copy.size()), attr(CKA_LABEL, label, sizeof label - 1),
      attr(CKA_TOKEN, &yes, 1),      attr(CKA_PRIVATE, &yes, 1),  attr(CKA_SENSITIVE, &yes, 1),
      attr(CKA_EXTRACTABLE, &yes, 1), attr(CKA_SIGN, &yes, 1),    attr(CKA_DECRYPT, &no, 1),
      attr(CKA_UNWRAP, &no, 1),      attr(CKA_DERIVE, &no, 1)};
  pool.run([&](p11::Session& session) {
    CK_MECHANISM mechanism{CKM_EC_EDWARDS_KEY_PAIR_GEN, nullptr, 0};
    CK_OBJECT_HANDLE public_key = 0, private_key = 0;
    p11::check(session.fn()->C_GenerateKeyPair(session.handle(), &mechanism, public_template.data(),
                                               public_template.size(), private_template.data(),
                                               private_template.size(), &public_key, &private_key),
               "C_GenerateKeyPair");
  });
}

// tpm2-pkcs11 refuses some of these combinations (CKR_ATTRIBUTE_VALUE_INVALID), so the variants
// are tried in order, each a key the rules must flag; returns what was made.
std::string make_exposed_p256_key(p11::SessionPool& pool) {
  struct Variant {
    const char* what;
    std::optional<CK_BBOOL> sensitive;
    CK_BBOOL extractable;
  };
  const Variant variants[] = {{"extractable", CK_TRUE, CK_TRUE},
                              {"extractable, sensitive left to the token", std::nullopt, CK_TRUE},
                              {"extractable and not sensitive", CK_FALSE, CK_TRUE},
                              {"not sensitive", CK_FALSE, CK_FALSE}};
  CK_RV last = CKR_OK;
  for (const Variant& variant : variants) {
    std::vector<std::uint8_t> id = p11::random_key_id();
    std::uint8_t p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};  // prime256v1
    char label[] = "bad-exposed-p256";
    CK_BBOOL yes = CK_TRUE, sensitive = variant.sensitive.value_or(CK_TRUE), extractable = variant.extractable;
    std::vector<CK_ATTRIBUTE> public_template = {
        attr(CKA_EC_PARAMS, p256_oid, sizeof p256_oid), attr(CKA_ID, id.data(), id.size()),
        attr(CKA_LABEL, label, sizeof label - 1), attr(CKA_TOKEN, &yes, 1), attr(CKA_VERIFY, &yes, 1)};
    std::vector<CK_ATTRIBUTE> private_template = {
        attr(CKA_ID, id.data(), id.size()), attr(CKA_LABEL, label, sizeof label - 1),
        attr(CKA_TOKEN, &yes, 1), attr(CKA_PRIVATE, &yes, 1), attr(CKA_EXTRACTABLE, &extractable, 1),
        attr(CKA_SIGN, &yes, 1)};
    if (variant.sensitive) private_template.push_back(attr(CKA_SENSITIVE, &sensitive, 1));
    const CK_RV rv = pool.run([&](p11::Session& session) {
      CK_MECHANISM mechanism{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
      CK_OBJECT_HANDLE public_key = 0, private_key = 0;
      return session.fn()->C_GenerateKeyPair(session.handle(), &mechanism, public_template.data(),
                                             public_template.size(), private_template.data(),
                                             private_template.size(), &public_key, &private_key);
    });
    if (rv == CKR_OK) return variant.what;
    last = rv;
  }
  p11::check(last, "C_GenerateKeyPair (every exposed P-256 variant)");
  return {};
}

void make_wrap_key(p11::SessionPool& pool) {
  std::vector<std::uint8_t> id = p11::random_key_id();
  char label[] = "bad-wrap-aes";
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG length = 32;
  std::vector<CK_ATTRIBUTE> key_template = {
      attr(CKA_ID, id.data(), id.size()), attr(CKA_LABEL, label, sizeof label - 1), attr(CKA_TOKEN, &yes, 1),
      attr(CKA_PRIVATE, &yes, 1),        attr(CKA_SENSITIVE, &yes, 1),           attr(CKA_EXTRACTABLE, &no, 1),
      attr(CKA_VALUE_LEN, &length, sizeof length), attr(CKA_WRAP, &yes, 1),    attr(CKA_UNWRAP, &yes, 1),
      attr(CKA_ENCRYPT, &yes, 1),        attr(CKA_DECRYPT, &yes, 1)};
  pool.run([&](p11::Session& session) {
    CK_MECHANISM mechanism{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE key = 0;
    p11::check(session.fn()->C_GenerateKey(session.handle(), &mechanism, key_template.data(), key_template.size(), &key),
               "C_GenerateKey");
  });
}

}  // namespace

int main(int argc, char** argv) {
  const bool p256_only = argc == 3 && std::string_view(argv[2]) == "extractable-p256";
  const bool twin = argc == 4 && std::string_view(argv[2]) == "twin";
  if (argc != 2 && !p256_only && !twin) {
    std::cerr << "usage: make_bad_keys TOKEN_URI [extractable-p256 | twin LABEL]\n";
    return 2;
  }
  try {
    const auto token = p11::Token::open(p11::Uri::parse(argv[1]));
    if (p256_only) {
      std::cout << "bad-exposed-p256 " << make_exposed_p256_key(token->pool()) << "\n";
      return 0;
    }
    if (twin) {
      const auto victim = p11::find_key_pair_by_label(token->pool(), argv[3]);
      if (!victim) throw std::runtime_error(std::string("no key labelled ") + argv[3]);
      escrowless::testing::plant_twin_key(token->pool(), *victim);
      std::cout << argv[3] << "\n";
      return 0;
    }
    make_extractable_key(token->pool());
    make_wrap_key(token->pool());
    p11::generate_key_pair(token->pool(), p11::choose_algorithm(token->mechanisms()), p11::random_key_id(),
                           "unlogged-signer");
    std::cout << "bad-extractable bad-wrap-aes unlogged-signer\n";
  } catch (const std::exception& e) {
    std::cerr << "make_bad_keys: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
