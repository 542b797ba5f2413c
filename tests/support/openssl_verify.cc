#include "tests/support/openssl_verify.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <stdexcept>

#include "audit/ecdsa.h"
#include "audit/openssl_ptr.h"

namespace escrowless::testing {

bool openssl_verify(std::span<const std::uint8_t> spki_der, std::span<const std::uint8_t> message,
                    std::span<const std::uint8_t> signature) {
  const unsigned char* p = spki_der.data();
  audit::EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
  if (!key || p != spki_der.data() + spki_der.size()) throw std::runtime_error("d2i_PUBKEY failed");
  audit::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ed25519 = EVP_PKEY_get_id(key.get()) == EVP_PKEY_ED25519;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, ed25519 ? nullptr : EVP_sha256(), nullptr,
                           key.get()) != 1) {
    throw std::runtime_error("EVP_DigestVerifyInit failed");
  }
  const std::vector<std::uint8_t> sig =
      ed25519 ? std::vector<std::uint8_t>(signature.begin(), signature.end())
              : audit::ecdsa_signature_raw_to_der(signature);
  return EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), message.data(), message.size()) == 1;
}

}  // namespace escrowless::testing
