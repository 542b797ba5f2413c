#include "audit/ecdsa.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <string>

#include "audit/error.h"
#include "audit/openssl_error.h"
#include "audit/openssl_ptr.h"

namespace escrowless::audit {
namespace {

constexpr std::size_t kMaxRawSignature = 2 * 66;  // P-521
constexpr std::size_t kP256PointSize = 65;

// Parses DER into an ECDSA_SIG and insists that re-encoding gives the same bytes, so there is
// exactly one accepted encoding of each signature.
EcdsaSigPtr parse_canonical(std::span<const uint8_t> der) {
  const unsigned char* cursor = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
  if (!sig) throw_openssl_error("d2i_ECDSA_SIG", ErrorKind::invalid_input);
  if (cursor != der.data() + der.size()) {
    throw invalid_input("ECDSA signature: trailing bytes after the DER structure");
  }
  const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) throw_openssl_error("i2d_ECDSA_SIG");
  std::vector<uint8_t> reencoded(static_cast<std::size_t>(length));
  unsigned char* out = reencoded.data();
  if (i2d_ECDSA_SIG(sig.get(), &out) != length) throw_openssl_error("i2d_ECDSA_SIG");
  if (!std::equal(reencoded.begin(), reencoded.end(), der.begin(), der.end())) {
    throw invalid_input("ECDSA signature: not canonical DER");
  }
  const BIGNUM* r = ECDSA_SIG_get0_r(sig.get());
  const BIGNUM* s = ECDSA_SIG_get0_s(sig.get());
  if (BN_is_zero(r) || BN_is_zero(s) || BN_is_negative(r) || BN_is_negative(s)) {
    throw invalid_input("ECDSA signature: r and s must be positive");
  }
  return sig;
}

}  // namespace

std::vector<uint8_t> ecdsa_signature_raw_to_der(std::span<const uint8_t> raw) {
  if (raw.empty() || raw.size() % 2 != 0 || raw.size() > kMaxRawSignature) {
    throw invalid_input("raw ECDSA signature: length " + std::to_string(raw.size()) +
                        " is not r || s of a supported curve");
  }
  const std::size_t half = raw.size() / 2;
  BignumPtr r(BN_bin2bn(raw.data(), static_cast<int>(half), nullptr));
  BignumPtr s(BN_bin2bn(raw.data() + half, static_cast<int>(half), nullptr));
  if (!r || !s) throw_openssl_error("BN_bin2bn");
  if (BN_is_zero(r.get()) || BN_is_zero(s.get())) {
    throw invalid_input("raw ECDSA signature: r and s must be non-zero");
  }
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!sig) throw_openssl_error("ECDSA_SIG_new");
  check_openssl(ECDSA_SIG_set0(sig.get(), r.get(), s.get()), "ECDSA_SIG_set0");
  (void)r.release();  // owned by sig now
  (void)s.release();
  const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) throw_openssl_error("i2d_ECDSA_SIG");
  std::vector<uint8_t> der(static_cast<std::size_t>(length));
  unsigned char* out = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &out) != length) throw_openssl_error("i2d_ECDSA_SIG");
  return der;
}

std::vector<uint8_t> ecdsa_signature_der_to_raw(std::span<const uint8_t> der,
                                                std::size_t field_size) {
  if (field_size == 0 || 2 * field_size > kMaxRawSignature) {
    throw invalid_input("ECDSA field size " + std::to_string(field_size) + " is not supported");
  }
  const EcdsaSigPtr sig = parse_canonical(der);
  std::vector<uint8_t> raw(2 * field_size);
  const int n = static_cast<int>(field_size);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), n) != n ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + field_size, n) != n) {
    clear_openssl_errors();
    throw invalid_input("ECDSA signature: r or s does not fit in " + std::to_string(field_size) +
                        " bytes");
  }
  return raw;
}

void check_ecdsa_signature_der(std::span<const uint8_t> der) { (void)parse_canonical(der); }

std::vector<uint8_t> ecdsa_p256_spki_from_point(std::span<const uint8_t> sec1_point) {
  if (sec1_point.size() != kP256PointSize || sec1_point[0] != POINT_CONVERSION_UNCOMPRESSED) {
    throw invalid_input("P-256 point must be 65 bytes in uncompressed form (0x04 || X || Y)");
  }
  OsslParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!builder) throw_openssl_error("OSSL_PARAM_BLD_new");
  check_openssl(OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                                "prime256v1", 0),
                "OSSL_PARAM_BLD_push_utf8_string");
  check_openssl(OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                                 sec1_point.data(), sec1_point.size()),
                "OSSL_PARAM_BLD_push_octet_string");
  OsslParamPtr params(OSSL_PARAM_BLD_to_param(builder.get()));
  if (!params) throw_openssl_error("OSSL_PARAM_BLD_to_param");
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx) throw_openssl_error("EVP_PKEY_CTX_new_from_name(EC)");
  check_openssl(EVP_PKEY_fromdata_init(ctx.get()), "EVP_PKEY_fromdata_init");
  EVP_PKEY* raw_key = nullptr;
  // Decoding the point checks that it lies on the curve; failure is the caller's input.
  check_openssl(EVP_PKEY_fromdata(ctx.get(), &raw_key, EVP_PKEY_PUBLIC_KEY, params.get()),
                "EVP_PKEY_fromdata (P-256 point)", ErrorKind::invalid_input);
  const EvpPkeyPtr key(raw_key);
  const int length = i2d_PUBKEY(key.get(), nullptr);
  if (length <= 0) throw_openssl_error("i2d_PUBKEY");
  std::vector<uint8_t> spki(static_cast<std::size_t>(length));
  unsigned char* out = spki.data();
  if (i2d_PUBKEY(key.get(), &out) != length) throw_openssl_error("i2d_PUBKEY");
  return spki;
}

}  // namespace escrowless::audit
