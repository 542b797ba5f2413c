// An inventory of every object the logged-in user can see on the token: the raw material of the
// `hsm.inventory` log entries that let auditors check no key exists that the log doesn't explain.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "pkcs11/object_attributes.h"
#include "pkcs11/session_pool.h"

namespace escrowless::pkcs11 {

struct InventoryItem {
  ObjectAttributes attributes;
  // SHA-256 of the DER SubjectPublicKeyInfo, for Ed25519 and P-256 keys: public keys from their
  // CKA_EC_POINT, private keys from the public key with the same CKA_ID and key type. Absent for
  // other objects and for private keys without such a public key.
  std::optional<std::array<std::uint8_t, 32>> public_key_sha256;
};

// Objects in the order the token lists them.
std::vector<InventoryItem> take_inventory(SessionPool& pool);

}  // namespace escrowless::pkcs11
