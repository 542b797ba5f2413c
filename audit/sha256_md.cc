#include "audit/sha256_md.h"

#include "audit/openssl_error.h"
#include "audit/openssl_ptr.h"

namespace escrowless::audit {

const EVP_MD* sha256_md() {
  static const EvpMdPtr md = [] {
    EvpMdPtr fetched(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    if (!fetched) throw_openssl_error("EVP_MD_fetch(SHA256)");
    return fetched;
  }();
  return md.get();
}

}  // namespace escrowless::audit
