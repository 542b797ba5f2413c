// std::unique_ptr for every OpenSSL type the project owns, so no raw *_free appears elsewhere.
// Other folders (pkcs11/, keyservice/) may reuse these aliases.
#pragma once

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace escrowless::audit {

// Calls the OpenSSL free function F; a stateless deleter, so the pointer stays pointer-sized.
template <auto F>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    F(p);
  }
};

namespace openssl_detail {
// OPENSSL_free is a macro (it passes file and line), so it needs a function to point at.
inline void free_buffer(unsigned char* p) noexcept { OPENSSL_free(p); }
}  // namespace openssl_detail

using EvpMdPtr = std::unique_ptr<EVP_MD, OpenSslDeleter<EVP_MD_free>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslDeleter<EVP_MD_CTX_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpenSslDeleter<EVP_PKEY_CTX_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OpenSslDeleter<ECDSA_SIG_free>>;
using OsslParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, OpenSslDeleter<OSSL_PARAM_BLD_free>>;
using OsslParamPtr = std::unique_ptr<OSSL_PARAM, OpenSslDeleter<OSSL_PARAM_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
// A buffer OpenSSL allocated for us (i2d_* with a null output pointer).
using OpenSslBufferPtr =
    std::unique_ptr<unsigned char, OpenSslDeleter<openssl_detail::free_buffer>>;

}  // namespace escrowless::audit
