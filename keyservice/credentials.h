// Bearer credentials: 32 random bytes shown once as base64url text, stored only as SHA-256, and
// checked in constant time.
#pragma once

#include <span>
#include <string_view>

#include "audit/hash.h"
#include "pkcs11/secret.h"

namespace escrowless::keyservice {

// A new credential: 43 characters of unpadded base64url over 32 bytes from OpenSSL's CSPRNG.
pkcs11::Secret new_credential();

// SHA-256 of the credential's text, as stored.
audit::Hash credential_hash(std::span<const std::uint8_t> credential);
audit::Hash credential_hash(std::string_view credential);

// Constant-time: hashes the presented credential and compares all 32 bytes with CRYPTO_memcmp.
bool credential_matches(std::string_view presented, const audit::Hash& stored_hash);

}  // namespace escrowless::keyservice
