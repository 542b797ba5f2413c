// Independent signature checks for tests: OpenSSL parses the key from its DER SubjectPublicKeyInfo
// and verifies, so nothing of the code under test is trusted to judge its own output.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace escrowless::testing {

// Ed25519 (pure) when the SPKI is an Ed25519 key; ECDSA over SHA-256 when it is an EC key, with
// the signature given as raw r ‖ s (64 bytes, as PKCS#11 returns it).
bool openssl_verify(std::span<const std::uint8_t> spki_der, std::span<const std::uint8_t> message,
                    std::span<const std::uint8_t> signature);

}  // namespace escrowless::testing
