// An inventory of every object the logged-in user can see on the token: the raw material of the
// `hsm.inventory` log entries that let auditors check no key exists that the log doesn't explain.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
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
  // Private keys of our algorithms, when take_inventory() had a challenge: the object's own
  // signature over challenge(position) (keys.h sign_with_handle). Absent when the object would
  // not sign (CKA_SIGN false, a key type or curve we don't use): the auditor flags that.
  std::optional<std::vector<std::uint8_t>> proof;
};

// The message the object at `position` (its index in the inventory) signs.
using InventoryChallenge = std::function<std::vector<std::uint8_t>(std::size_t position)>;

// Objects in the order the token lists them, and with a challenge, each private key's proof of
// possession. A token that fails (Error unavailable) fails the whole inventory.
std::vector<InventoryItem> take_inventory(SessionPool& pool, const InventoryChallenge& challenge = {});

// Destroys every public and private key object for which `doomed(attributes)` is true, and
// returns their attributes. For tidying up after a crash (keyservice/reconciler.h): it destroys
// objects by what they say they are, including ones no lookup by CKA_ID could reach.
std::vector<ObjectAttributes> destroy_keys_if(SessionPool& pool,
                                              const std::function<bool(const ObjectAttributes&)>& doomed);

// Destroys the objects whose CKA_CLASS the token itself cannot read, which every PKCS#11 object
// has: SoftHSM's file store leaves such an object, an empty file, when killed while making one,
// and from then on take_inventory() fails on it. Nothing can use such an object. Returns how many
// there were; Error(internal), and nothing destroyed, if more than `at_most`.
std::size_t destroy_unreadable_objects(SessionPool& pool, std::size_t at_most);

}  // namespace escrowless::pkcs11
