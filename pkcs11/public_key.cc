#include "pkcs11/public_key.h"

#include <algorithm>
#include <array>

#include "pkcs11/error.h"

namespace escrowless::pkcs11 {
namespace {

// id-Ed25519 (1.3.101.112) and prime256v1 (1.2.840.10045.3.1.7) as DER OIDs.
constexpr std::array<std::uint8_t, 5> kEd25519Oid = {0x06, 0x03, 0x2b, 0x65, 0x70};
constexpr std::array<std::uint8_t, 10> kP256Oid = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                                   0xce, 0x3d, 0x03, 0x01, 0x07};
// PKCS#11 3.0 also allows the curve name as a DER PrintableString.
constexpr std::string_view kEd25519Name = "edwards25519";

// The fixed SubjectPublicKeyInfo prefixes: SEQUENCE { AlgorithmIdentifier, BIT STRING (0 unused) }.
constexpr std::array<std::uint8_t, 12> kEd25519SpkiPrefix = {
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
constexpr std::array<std::uint8_t, 26> kP256SpkiPrefix = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

std::size_t raw_size(Algorithm algorithm) { return algorithm == Algorithm::ed25519 ? 32 : 65; }

bool equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

bool is_ed25519_name(std::span<const std::uint8_t> params) {
  return params.size() == 2 + kEd25519Name.size() && params[0] == 0x13 &&
         params[1] == kEd25519Name.size() &&
         std::equal(kEd25519Name.begin(), kEd25519Name.end(), params.begin() + 2);
}

}  // namespace

std::vector<std::uint8_t> PublicKey::spki_der() const {
  const std::span<const std::uint8_t> prefix =
      algorithm == Algorithm::ed25519 ? std::span<const std::uint8_t>(kEd25519SpkiPrefix)
                                      : std::span<const std::uint8_t>(kP256SpkiPrefix);
  std::vector<std::uint8_t> der(prefix.begin(), prefix.end());
  der.insert(der.end(), raw.begin(), raw.end());
  return der;
}

std::span<const std::uint8_t> ec_params(Algorithm algorithm) {
  if (algorithm == Algorithm::ed25519) return kEd25519Oid;
  return kP256Oid;
}

Algorithm algorithm_of(CK_KEY_TYPE key_type, std::span<const std::uint8_t> params) {
  if (key_type == CKK_EC_EDWARDS && (equal(params, kEd25519Oid) || is_ed25519_name(params))) {
    return Algorithm::ed25519;
  }
  if (key_type == CKK_EC && equal(params, kP256Oid)) return Algorithm::ecdsa_p256;
  throw Error(ErrorKind::invalid_input, "key is neither Ed25519 nor ECDSA P-256");
}

PublicKey decode_ec_point(Algorithm algorithm, std::span<const std::uint8_t> ec_point) {
  const std::size_t size = raw_size(algorithm);
  std::span<const std::uint8_t> raw;
  // DER OCTET STRING with a short-form length (both our key sizes are below 128 bytes).
  if (ec_point.size() == size + 2 && ec_point[0] == 0x04 && ec_point[1] == size) {
    raw = ec_point.subspan(2);
  } else if (ec_point.size() == size) {
    raw = ec_point;
  } else {
    throw Error(ErrorKind::internal, "token returned a CKA_EC_POINT of unexpected size " +
                                         std::to_string(ec_point.size()));
  }
  if (algorithm == Algorithm::ecdsa_p256 && raw[0] != 0x04) {
    throw Error(ErrorKind::internal, "token returned a P-256 point that is not uncompressed");
  }
  return PublicKey{algorithm, std::vector<std::uint8_t>(raw.begin(), raw.end())};
}

}  // namespace escrowless::pkcs11
