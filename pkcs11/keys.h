// Signing key pairs in the token: generation with strict templates, lookup, signing, destruction.
//
// Private keys are made inside the token and stay there: sensitive, never extractable, able to
// sign and nothing else (DESIGN section 2). Every security attribute is written out in the template,
// because tokens' defaults differ (SoftHSM's allow decrypt and unwrap).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pkcs11/attribute_list.h"
#include "pkcs11/key_generation.h"
#include "pkcs11/object_attributes.h"
#include "pkcs11/public_key.h"
#include "pkcs11/session_pool.h"
#include "pkcs11/slot.h"

namespace escrowless::pkcs11 {

// Object handles are valid for one login only: SoftHSM, for one, drops the handles of private
// objects on logout (and the token logs out when its last session closes). So key operations
// look the handles up again by CKA_ID after every new login of the pool, and once more after a
// CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID. Copies of a KeyPair share this cache.
struct KeyHandles {
  std::mutex mutex;
  CK_OBJECT_HANDLE public_handle = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE private_handle = CK_INVALID_HANDLE;
  std::uint64_t login_count = 0;  // SessionPool::login_count() when they were found
};

struct KeyPair {
  std::vector<std::uint8_t> id;  // CKA_ID, shared by both halves
  std::string label;             // CKA_LABEL, shared by both halves
  PublicKey public_key;
  std::shared_ptr<KeyHandles> handles = std::make_shared<KeyHandles>();
  // Set by generate_key_pair only: what the token made of the strict template (key_generation.h).
  std::shared_ptr<const KeyGenerationReport> generation;

  // The handles as last found (for attribute reads right after generation or lookup).
  CK_OBJECT_HANDLE public_handle() const;
  CK_OBJECT_HANDLE private_handle() const;
};

// The template for a sign-only key pair on the token. Requires 1 <= id.size() <= 64 and a label
// of 1 to 128 bytes.
KeyPairTemplate signing_key_template(Algorithm algorithm, std::span<const std::uint8_t> id,
                                     std::string_view label);

// How generate_key_pair keeps lookups by label and id unambiguous.
enum class KeyUniqueness {
  // It searches the token first: a private key with this label, or any object with this id, is
  // refused. Two searches over the whole token: SoftHSM reads every object's file for each, so
  // this costs O(objects on the token) (bench/token_scale).
  checked,
  // The caller guarantees both without a search: the id comes from random_key_id() (128 random
  // bits) and the label names something new (a device key's label holds a new random device
  // id). The service's enrollments use this, so that enrolling stays flat as the token fills.
  guaranteed_by_caller,
};

// Generates a key pair with signing_key_template(), leaving to the token only what it refuses
// and reading every attribute back (key_generation.h; the result's `generation`). With
// KeyUniqueness::checked, refuses a label or id that another key on the token already has.
// Error(template_refused) when the token refuses every allowed template or makes a key that
// breaks the no-escrow rules (that key is destroyed).
KeyPair generate_key_pair(SessionPool& pool, Algorithm algorithm, std::span<const std::uint8_t> id,
                          std::string_view label,
                          KeyUniqueness uniqueness = KeyUniqueness::checked);

// The key pair whose private key has this label (or id); nullopt when none, Error(ambiguous_key)
// when several private (or public) keys match, Error(invalid_input) when the key is not one of
// our algorithms.
std::optional<KeyPair> find_key_pair_by_label(SessionPool& pool, std::string_view label);
std::optional<KeyPair> find_key_pair_by_id(SessionPool& pool, std::span<const std::uint8_t> id);

// How many lookups found several keys and refused (Error ambiguous_key), since start: /metrics.
std::uint64_t ambiguous_key_lookups();

// Ed25519: PureEdDSA over the message (CKM_EDDSA). P-256: SHA-256 of the message computed here,
// signed with CKM_ECDSA. Both return 64 bytes (r ‖ s for ECDSA).
std::vector<std::uint8_t> sign(SessionPool& pool, const KeyPair& key,
                               std::span<const std::uint8_t> message);

// The same with a private key handle of `session` (inventories sign with every private key).
std::vector<std::uint8_t> sign_with_handle(Session& session, CK_OBJECT_HANDLE private_key,
                                           Algorithm algorithm, std::span<const std::uint8_t> message);

// Every security and capability attribute of both halves, as the token reports them now.
struct KeyPairAttributes {
  ObjectAttributes public_key;
  ObjectAttributes private_key;
};
KeyPairAttributes read_key_pair_attributes(SessionPool& pool, const KeyPair& key);

// Destroys both halves in the token.
void destroy_key_pair(SessionPool& pool, const KeyPair& key);

// A new random CKA_ID (16 bytes).
std::vector<std::uint8_t> random_key_id();

}  // namespace escrowless::pkcs11
