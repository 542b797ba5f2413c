// The no-escrow rules on a key's PKCS#11 flags (DESIGN section 2, docs/log-format.md section 6),
// as pure functions: what an auditor finds wrong with a private key or a secret key, each fault
// as a short phrase ("extractable", "able to decrypt") that a report can put in a sentence.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/log_entry.h"
#include "audit/token_objects.h"

namespace escrowless::audit {

// What breaks the private key rules: sensitive, always_sensitive, never_extractable and local
// must be present and true (made in the token, never out of it in the clear); extractable,
// decrypt, unwrap and derive present and false; wrap, when the token reports it, false. An
// absent required flag is a fault too ("never_extractable not reported"): the token is not
// saying. Faults come in a fixed order: capabilities first, then the missing guarantees. Empty when the key obeys every rule.
std::vector<std::string> private_key_faults(const Attributes& flags);

// The private key rules weighed against what the token offers. Some tokens force a capability
// flag they never let anyone use: tpm2-pkcs11 makes every EC key with CKA_DECRYPT true, yet offers
// no mechanism that decrypts with an EC key. `decrypt`, `unwrap` or `derive` true on an EC
// private key (key type `ec`, CKK_EC) is accepted, not a fault, only when `mechanisms` (the newest
// mechanism list logged for the key's token; nullptr when none is logged) is logged, not empty,
// and holds no mechanism that could use an EC private key for that operation
// (mechanism_could_use_ec_key with CKF_DECRYPT, CKF_UNWRAP or CKF_DERIVE). Everything else stays
// a fault: any other flag, any other key type, no list or an empty one (nothing shows the flag is
// unusable, and the auditor never certifies what it cannot see).
struct PrivateKeyFindings {
  std::vector<std::string> faults;    // as private_key_faults, minus what is accepted
  std::vector<std::string> accepted;  // the accepted flags' names ("decrypt"), in rule order
};
PrivateKeyFindings weigh_private_key(const Attributes& flags, std::optional<KeyType> key_type,
                                     const std::vector<TokenMechanism>* mechanisms);

// CK_MECHANISM_INFO.flags bits for the capabilities a private key must not have (PKCS#11 3.0
// section 5.10, Table 34).
inline constexpr uint64_t kCkfDecrypt = 0x200;
inline constexpr uint64_t kCkfUnwrap = 0x40000;
inline constexpr uint64_t kCkfDerive = 0x80000;

// True when the mechanism `type` may take an EC private key (CKK_EC): the PKCS#11 elliptic-curve
// mechanisms (CKM_EC_KEY_PAIR_GEN 0x1040 to CKM_ECDH_AES_KEY_WRAP 0x1053, the Edwards and
// Montgomery ones 0x1055 to 0x105f, CKM_EC_KEY_PAIR_GEN_W_EXTRA_BITS 0x140b, CKM_XEDDSA 0x4029,
// CKM_ECDH_X_AES_KEY_WRAP 0x4038, CKM_ECDH_COF_AES_KEY_WRAP 0x4039, CKM_PUB_KEY_FROM_PRIV_KEY
// 0x403a), and every vendor-defined mechanism (CKM_VENDOR_DEFINED 0x80000000 and up), whose key
// types nobody outside the vendor can know.
bool mechanism_could_use_ec_key(uint64_t type);

// The escrow capabilities of a secret key: "able to wrap", "able to unwrap", "able to decrypt"
// for each of those flags the token reports true. Empty when it has none.
std::vector<std::string> secret_key_capabilities(const Attributes& flags);

// "a, b and c".
std::string join_phrases(const std::vector<std::string>& phrases);

}  // namespace escrowless::audit
