// Public keys as the token reports them, in the forms the rest of the system uses: the raw key
// (32 bytes for Ed25519, 65-byte SEC1 uncompressed point for P-256) and DER SubjectPublicKeyInfo.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "pkcs11/slot.h"

namespace escrowless::pkcs11 {

struct PublicKey {
  Algorithm algorithm = Algorithm::ed25519;
  std::vector<std::uint8_t> raw;

  // DER SubjectPublicKeyInfo (RFC 8410 for Ed25519, RFC 5480 for P-256).
  std::vector<std::uint8_t> spki_der() const;
};

// The DER encoding of a curve's CKA_EC_PARAMS (an OID).
std::span<const std::uint8_t> ec_params(Algorithm algorithm);

// Which of our algorithms a key's CKA_KEY_TYPE and CKA_EC_PARAMS describe; throws
// Error(invalid_input) for any other key (RSA, Ed448, other curves).
Algorithm algorithm_of(CK_KEY_TYPE key_type, std::span<const std::uint8_t> params);

// CKA_EC_POINT to the raw key. The standard says a DER OCTET STRING (SoftHSM returns `04 20` +
// 32 bytes for Ed25519); some modules return the bare point, which is accepted too.
PublicKey decode_ec_point(Algorithm algorithm, std::span<const std::uint8_t> ec_point);

}  // namespace escrowless::pkcs11
