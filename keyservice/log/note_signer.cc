#include "keyservice/log/note_signer.h"

#include "audit/ecdsa.h"
#include "audit/note.h"
#include "keyservice/error.h"

namespace escrowless::keyservice {

audit::VerifierKey verifier_key_for(const pkcs11::PublicKey& key, std::string_view name) {
  if (key.algorithm == pkcs11::Algorithm::ed25519) {
    return audit::VerifierKey::create(name, audit::SignatureType::ed25519, key.raw);
  }
  return audit::VerifierKey::create(name, audit::SignatureType::ecdsa, key.spki_der());
}

TokenNoteSigner::TokenNoteSigner(pkcs11::SessionPool& pool, pkcs11::KeyPair key, std::string_view name)
    : pool_(pool), key_(std::move(key)), verifier_(verifier_key_for(key_.public_key, name)) {}

std::string TokenNoteSigner::sign(std::string_view text) {
  const std::vector<std::uint8_t> message = audit::note_signed_message(text);
  std::vector<std::uint8_t> signature = pkcs11::sign(pool_, key_, message);
  if (verifier_.type() == audit::SignatureType::ecdsa) {
    signature = audit::ecdsa_signature_raw_to_der(signature);
  }
  // Check the token's work before anyone relies on it: a bad signature must never be stored.
  if (!verifier_.verify(message, signature)) {
    throw Error(ErrorKind::unavailable, "the token returned a signature that does not verify");
  }
  return audit::append_signature(
      text, audit::format_signature_line(verifier_.name(), verifier_.key_id(), signature));
}

}  // namespace escrowless::keyservice
