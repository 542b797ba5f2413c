#include "audit/public_key.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "audit/ecdsa.h"
#include "audit/error.h"
#include "audit/openssl_error.h"
#include "audit/sha256_md.h"

namespace escrowless::audit {
namespace {

constexpr std::size_t kEd25519KeySize = 32;
constexpr std::size_t kEd25519SignatureSize = 64;

// OpenSSL's names for the curves signed-note allows for type 0x02.
constexpr std::array<std::string_view, 3> kAllowedCurves = {"prime256v1", "secp384r1",
                                                            "secp521r1"};

// EVP_DigestVerify with `md` (nullptr for Ed25519, which hashes internally). A 0 or negative
// result is "does not verify": OpenSSL reports some bad signatures as errors (-1).
bool digest_verify(EVP_PKEY* key, const EVP_MD* md, std::span<const uint8_t> message,
                   std::span<const uint8_t> signature) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) throw_openssl_error("EVP_MD_CTX_new");
  check_openssl(EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key),
                "EVP_DigestVerifyInit");
  const int rc = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                                  message.size());
  if (rc != 1) clear_openssl_errors();
  return rc == 1;
}

}  // namespace

EvpPkeyPtr load_ed25519_public_key(std::span<const uint8_t> raw) {
  if (raw.size() != kEd25519KeySize) {
    throw invalid_input("Ed25519 public key must be 32 bytes, got " + std::to_string(raw.size()));
  }
  EvpPkeyPtr key(
      EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, raw.data(), raw.size()));
  if (!key) throw_openssl_error("EVP_PKEY_new_raw_public_key_ex(ED25519)", ErrorKind::invalid_input);
  return key;
}

EvpPkeyPtr load_ecdsa_spki(std::span<const uint8_t> spki_der) {
  const unsigned char* cursor = spki_der.data();
  EvpPkeyPtr key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(spki_der.size())));
  if (!key) throw_openssl_error("d2i_PUBKEY (ECDSA SPKI)", ErrorKind::invalid_input);
  if (cursor != spki_der.data() + spki_der.size()) {
    throw invalid_input("ECDSA SPKI: trailing bytes after the DER structure");
  }
  if (EVP_PKEY_is_a(key.get(), "EC") != 1) {
    throw invalid_input("ECDSA SPKI: not an elliptic-curve key");
  }
  std::array<char, 64> group{};
  std::size_t group_length = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.data(),
                                     group.size(), &group_length) != 1) {
    clear_openssl_errors();
    throw invalid_input("ECDSA SPKI: not a named curve");
  }
  const std::string_view group_name(group.data(), group_length);
  if (std::find(kAllowedCurves.begin(), kAllowedCurves.end(), group_name) ==
      kAllowedCurves.end()) {
    throw invalid_input("ECDSA SPKI: curve " + std::string(group_name) +
                        " is not P-256, P-384 or P-521");
  }
  // The conversion form is taken from the encoded point; a compressed point is valid SPKI but
  // not what Go's x509 (the spec's reference) accepts, and would give one key two key ids.
  std::array<char, 32> form{};
  std::size_t form_length = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                     form.data(), form.size(), &form_length) != 1) {
    throw_openssl_error("EVP_PKEY_get_utf8_string_param(point-format)", ErrorKind::invalid_input);
  }
  if (std::string_view(form.data(), form_length) != "uncompressed") {
    throw invalid_input("ECDSA SPKI: public point is not in uncompressed form");
  }
  // Canonical DER: re-encoding must give back the very bytes the key id is computed over.
  const int der_length = i2d_PUBKEY(key.get(), nullptr);
  if (der_length <= 0) throw_openssl_error("i2d_PUBKEY");
  if (static_cast<std::size_t>(der_length) != spki_der.size()) {
    throw invalid_input("ECDSA SPKI: not canonical DER");
  }
  std::vector<unsigned char> reencoded(static_cast<std::size_t>(der_length));
  unsigned char* out = reencoded.data();
  if (i2d_PUBKEY(key.get(), &out) != der_length) throw_openssl_error("i2d_PUBKEY");
  if (!std::equal(reencoded.begin(), reencoded.end(), spki_der.begin())) {
    throw invalid_input("ECDSA SPKI: not canonical DER");
  }
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check) throw_openssl_error("EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_public_check(check.get()) != 1) {
    throw_openssl_error("EVP_PKEY_public_check", ErrorKind::invalid_input);
  }
  return key;
}

bool verify_ed25519(EVP_PKEY* key, std::span<const uint8_t> message,
                    std::span<const uint8_t> signature) {
  if (signature.size() != kEd25519SignatureSize) {
    throw invalid_input("Ed25519 signature must be 64 bytes, got " +
                        std::to_string(signature.size()));
  }
  return digest_verify(key, nullptr, message, signature);
}

bool verify_ecdsa_sha256(EVP_PKEY* key, std::span<const uint8_t> message,
                         std::span<const uint8_t> signature_der) {
  check_ecdsa_signature_der(signature_der);
  return digest_verify(key, sha256_md(), message, signature_der);
}

}  // namespace escrowless::audit
