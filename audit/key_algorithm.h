// The algorithms of keys in the token, and the public-key fingerprint log entries carry:
// SHA-256 of the key's DER SubjectPublicKeyInfo, the same value `keyadmin inventory` reports
// for objects on the token, so an auditor can match inventory objects to logged keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "audit/hash.h"

namespace escrowless::audit {

enum class KeyAlgorithm {
  ed25519,     // raw key: 32 bytes (RFC 8032)
  ecdsa_p256,  // raw key: 65 bytes, the uncompressed SEC1 point 0x04 || X || Y
};

// "ed25519" or "ecdsa-p256".
std::string_view to_string(KeyAlgorithm algorithm) noexcept;

// The inverse of to_string. Throws invalid_input for any other name.
KeyAlgorithm parse_key_algorithm(std::string_view name);

// 32 or 65.
std::size_t raw_public_key_size(KeyAlgorithm algorithm) noexcept;

// DER SubjectPublicKeyInfo of a raw public key: RFC 8410 for Ed25519 (a fixed 12-byte prefix
// 302a300506032b6570032100, then the key), RFC 5480 for P-256 (a fixed 26-byte prefix
// 3059301306072a8648ce3d020106082a8648ce3d030107034200, then the point). Throws invalid_input
// if the key has the wrong size ("Ed25519 keys are 32 bytes, got 31") or, for P-256, is not an
// uncompressed point on the curve.
std::vector<uint8_t> public_key_spki(KeyAlgorithm algorithm, std::span<const uint8_t> raw);

// SHA-256 of public_key_spki(algorithm, raw), with its preconditions.
Hash public_key_sha256(KeyAlgorithm algorithm, std::span<const uint8_t> raw);

}  // namespace escrowless::audit
