// ECDSA signature and key encodings at the boundary between a PKCS#11 token and signed notes.
// A token's CKM_ECDSA returns raw r || s and its CKA_EC_POINT is a bare SEC1 point; a
// signed-note type 0x02 signature is a DER ECDSA-Sig-Value and its key is a DER SPKI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace escrowless::audit {

// DER ECDSA-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }) from raw r || s, each half the
// curve's field size (64 bytes in all for P-256). Requires an even, non-zero length of at most
// 132 bytes (P-521) and r, s non-zero; throws invalid_input otherwise.
std::vector<uint8_t> ecdsa_signature_raw_to_der(std::span<const uint8_t> raw);

// Raw r || s, each left-padded to `field_size` bytes (32 for P-256), from a DER ECDSA-Sig-Value.
// Requires canonical DER and r, s that fit; throws invalid_input otherwise.
std::vector<uint8_t> ecdsa_signature_der_to_raw(std::span<const uint8_t> der,
                                                std::size_t field_size);

// Throws invalid_input unless `der` is a canonical DER ECDSA-Sig-Value with positive r and s
// and nothing after it.
void check_ecdsa_signature_der(std::span<const uint8_t> der);

// DER SubjectPublicKeyInfo of a P-256 key from its uncompressed SEC1 point (0x04 || X || Y,
// 65 bytes; CKA_EC_POINT holds it wrapped in a DER OCTET STRING, which the caller removes).
// Throws invalid_input if the point is malformed or not on the curve. This is the public key
// encoding of a signed-note type 0x02 verifier key.
std::vector<uint8_t> ecdsa_p256_spki_from_point(std::span<const uint8_t> sec1_point);

}  // namespace escrowless::audit
