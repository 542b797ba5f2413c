#include "audit/key_algorithm.h"

#include <array>
#include <string>

#include "audit/ecdsa.h"
#include "audit/error.h"
#include "audit/json_path.h"

namespace escrowless::audit {
namespace {

// SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (0 unused bits) of 32 bytes }.
constexpr std::array<uint8_t, 12> kEd25519SpkiPrefix = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                        0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

}  // namespace

std::string_view to_string(KeyAlgorithm algorithm) noexcept {
  switch (algorithm) {
    case KeyAlgorithm::ed25519:
      return "ed25519";
    case KeyAlgorithm::ecdsa_p256:
      return "ecdsa-p256";
  }
  return "unknown";
}

KeyAlgorithm parse_key_algorithm(std::string_view name) {
  if (name == "ed25519") return KeyAlgorithm::ed25519;
  if (name == "ecdsa-p256") return KeyAlgorithm::ecdsa_p256;
  throw invalid_input("algorithm must be \"ed25519\" or \"ecdsa-p256\", got " + quote(name));
}

std::size_t raw_public_key_size(KeyAlgorithm algorithm) noexcept {
  return algorithm == KeyAlgorithm::ed25519 ? 32 : 65;
}

std::vector<uint8_t> public_key_spki(KeyAlgorithm algorithm, std::span<const uint8_t> raw) {
  const std::size_t size = raw_public_key_size(algorithm);
  if (algorithm == KeyAlgorithm::ed25519) {
    if (raw.size() != size) {
      throw invalid_input("Ed25519 keys are 32 bytes, got " + std::to_string(raw.size()));
    }
    std::vector<uint8_t> spki(kEd25519SpkiPrefix.begin(), kEd25519SpkiPrefix.end());
    spki.insert(spki.end(), raw.begin(), raw.end());
    return spki;
  }
  if (raw.size() != size) {
    throw invalid_input("P-256 keys are 65 bytes (0x04 || X || Y), got " +
                        std::to_string(raw.size()));
  }
  // OpenSSL checks the point is on the curve; the DER it returns has the RFC 5480 prefix.
  return ecdsa_p256_spki_from_point(raw);
}

Hash public_key_sha256(KeyAlgorithm algorithm, std::span<const uint8_t> raw) {
  return sha256(public_key_spki(algorithm, raw));
}

}  // namespace escrowless::audit
