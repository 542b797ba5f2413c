#include "witness/token_cosigner.h"

#include <string>

#include "pkcs11/error.h"

namespace escrowless::witness {

pkcs11::KeyPair generate_witness_key(pkcs11::Token& token, std::string_view label) {
  if (pkcs11::choose_algorithm(token.mechanisms()) != pkcs11::Algorithm::ed25519) {
    throw pkcs11::Error(pkcs11::ErrorKind::invalid_input,
                        "the token offers no Ed25519 (CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA); "
                        "cosignature/v1 needs it");
  }
  if (pkcs11::find_key_pair_by_label(token.pool(), label)) {
    throw pkcs11::Error(pkcs11::ErrorKind::invalid_input,
                        "the token already holds a key labelled " + std::string(label) +
                            "; a witness keeps one key (print it with keywitness vkey)");
  }
  return pkcs11::generate_key_pair(token.pool(), pkcs11::Algorithm::ed25519, pkcs11::random_key_id(), label);
}

pkcs11::KeyPair find_witness_key(pkcs11::SessionPool& pool, std::string_view label) {
  std::optional<pkcs11::KeyPair> key = pkcs11::find_key_pair_by_label(pool, label);
  if (!key) {
    throw pkcs11::Error(pkcs11::ErrorKind::not_found,
                        "the token holds no key labelled " + std::string(label) + " (keywitness init makes it)");
  }
  if (key->public_key.algorithm != pkcs11::Algorithm::ed25519) {
    throw pkcs11::Error(pkcs11::ErrorKind::invalid_input,
                        "the key labelled " + std::string(label) + " is not Ed25519; cosignature/v1 needs Ed25519");
  }
  return std::move(*key);
}

audit::CosignerKey cosigner_key_of(const pkcs11::KeyPair& key, std::string_view name) {
  return audit::CosignerKey::create(name, key.public_key.raw);
}

audit::Ed25519Signer token_signer(pkcs11::SessionPool& pool, pkcs11::KeyPair key) {
  return [&pool, key = std::move(key)](std::span<const uint8_t> message) { return pkcs11::sign(pool, key, message); };
}

}  // namespace escrowless::witness
