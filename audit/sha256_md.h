// The process-wide SHA-256 EVP_MD, fetched once: a fetch is a provider lookup under a lock,
// far too slow to repeat per hash.
#pragma once

#include <openssl/evp.h>

namespace escrowless::audit {

// Never null; throws Error(internal) if OpenSSL has no SHA-256 (a broken installation).
const EVP_MD* sha256_md();

}  // namespace escrowless::audit
