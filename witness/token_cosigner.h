// The witness key in a PKCS#11 token: an Ed25519 key pair made with the project's strict
// sign-only template (pkcs11/keys.h), found by its label, signing cosignature/v1 messages with
// CKM_EDDSA. The private key never leaves the token.
#pragma once

#include <string_view>

#include "audit/cosignature.h"
#include "pkcs11/keys.h"
#include "pkcs11/session_pool.h"
#include "pkcs11/token.h"

namespace escrowless::witness {

inline constexpr std::string_view kDefaultKeyLabel = "keywitness";

// Makes the witness key. Throws pkcs11::Error(invalid_input) if a key with `label` exists (a
// witness keeps one identity), or when the token offers no Ed25519 (cosignature/v1 is Ed25519).
pkcs11::KeyPair generate_witness_key(pkcs11::Token& token, std::string_view label);

// The witness key labelled `label`; pkcs11::Error(not_found) when there is none,
// invalid_input when it is not Ed25519.
pkcs11::KeyPair find_witness_key(pkcs11::SessionPool& pool, std::string_view label);

// The cosigner key (vkey) of a token key under the witness name `name`.
audit::CosignerKey cosigner_key_of(const pkcs11::KeyPair& key, std::string_view name);

// Signs in the token. The pool must outlive the signer.
audit::Ed25519Signer token_signer(pkcs11::SessionPool& pool, pkcs11::KeyPair key);

}  // namespace escrowless::witness
