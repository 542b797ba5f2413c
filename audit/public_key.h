// Loading and using the public keys that verify note signatures, one OpenSSL path per type.
// VerifierKey (verifier_key.h) is the interface to use; this is its engine, kept apart so the
// key-format rules and the OpenSSL calls each stay small.
#pragma once

#include <cstdint>
#include <span>

#include "audit/openssl_ptr.h"

namespace escrowless::audit {

// An Ed25519 public key from its 32-byte RFC 8032 encoding. Throws invalid_input otherwise.
EvpPkeyPtr load_ed25519_public_key(std::span<const uint8_t> raw);

// An ECDSA public key from DER SubjectPublicKeyInfo. Throws invalid_input unless the input is
// canonical DER with nothing after it, a named curve among P-256, P-384 and P-521, and an
// uncompressed point on the curve: the only form Go's x509 (the reference verifier) accepts,
// and the only one whose key id is unambiguous.
EvpPkeyPtr load_ecdsa_spki(std::span<const uint8_t> spki_der);

// Ed25519 (pure, RFC 8032) verification. Throws invalid_input if `signature` is not 64 bytes.
bool verify_ed25519(EVP_PKEY* key, std::span<const uint8_t> message,
                    std::span<const uint8_t> signature);

// ECDSA verification over SHA-256(message) with a DER ECDSA-Sig-Value. Throws invalid_input if
// the signature is not canonical DER.
bool verify_ecdsa_sha256(EVP_PKEY* key, std::span<const uint8_t> message,
                         std::span<const uint8_t> signature_der);

}  // namespace escrowless::audit
