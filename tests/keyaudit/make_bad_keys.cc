// Test tool for tests/keyaudit/keyaudit_test.sh: puts on a token the three objects keyaudit must
// flag, through the PKCS#11 layer (raw C_GenerateKeyPair / C_GenerateKey via the module's
// function list, because our own templates refuse to make them):
//   bad-extractable  an Ed25519 private key with CKA_EXTRACTABLE true (otherwise well formed)
//   bad-wrap-aes     an AES-256 secret key able to wrap, unwrap, encrypt and decrypt
//   unlogged-signer  a proper sign-only key pair (pkcs11::generate_key_pair) that no entry logs
// Usage: make_bad_keys TOKEN_URI   (with SOFTHSM2_CONF set); prints the three labels.
#include <iostream>
#include <vector>

#include "pkcs11/error.h"
#include "pkcs11/keys.h"
#include "pkcs11/token.h"

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
  if (argc != 2) {
    std::cerr << "usage: make_bad_keys TOKEN_URI\n";
    return 2;
  }
  try {
    const auto token = p11::Token::open(p11::Uri::parse(argv[1]));
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
