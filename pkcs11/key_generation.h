// Making a key pair from our strict template on tokens that refuse parts of it, and reading back
// what the token actually made.
//
// The strict template (keys.h) is always tried first. Tokens differ: tpm2-pkcs11 makes every EC
// key encrypt/decrypt-capable and refuses a template that says false (CKR_GENERAL_ERROR); NSS
// softokn refuses CKA_COPYABLE=false. When the token refuses the template, one negotiable
// capability at a time (both halves of it: encrypt/decrypt, wrap/unwrap, derive, recover, copy,
// modify) is left out for the token to decide, then all of them cumulatively, until the token
// accepts. What worked is remembered per module and token, so later keys don't probe again. The
// core (class, key type, curve, id, label, token, private, sensitive, extractable, sign, verify)
// is never left out. Every attribute is read back afterwards: a private key that is extractable,
// not sensitive, or unable to sign is destroyed at once and the generation fails. Nothing here
// looks at a manufacturer string: the token's answers decide.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "pkcs11/attribute_list.h"
#include "pkcs11/object_attributes.h"
#include "pkcs11/session.h"

namespace escrowless::pkcs11 {

// One template attribute the token did not take as asked.
struct AttributeOutcome {
  std::string_view half;       // "public" or "private"
  std::string_view name;       // as in flag_specs(): "decrypt", "copyable", ...
  bool requested = false;      // what the strict template says
  bool left_to_token = false;  // left out of the template given to the token, which refused it
  std::optional<bool> actual;  // as read back; nullopt when the token reports no value
};

// What the token made of the strict template; meant to go into log entries as it is.
struct KeyGenerationReport {
  // Every attribute left to the token or read back different from the strict template, public
  // half first, each half in flag_specs() order. Empty when the token honoured the template.
  std::vector<AttributeOutcome> departures;
  ObjectAttributes public_key;   // as read back right after generation
  ObjectAttributes private_key;

  // The departures whose read-back value differs from the strict template ("forced").
  std::vector<AttributeOutcome> forced() const;
};

struct GeneratedPair {
  CK_OBJECT_HANDLE public_handle = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE private_handle = CK_INVALID_HANDLE;
  KeyGenerationReport report;
};

// Requires a logged-in session; the caller holds token_objects_lock() exclusively. Errors:
// template_refused when every template the rules allow is refused (naming the CKR_* value and
// what was tried) or the made key breaks the rules; unavailable when the token went away.
GeneratedPair generate_negotiated(Session& session, const KeyPairTemplate& strict);

}  // namespace escrowless::pkcs11
