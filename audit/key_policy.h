// The no-escrow rules on a key's PKCS#11 flags (DESIGN section 2, docs/log-format.md section 6),
// as pure functions: what an auditor finds wrong with a private key or a secret key, each fault
// as a short phrase ("extractable", "able to decrypt") that a report can put in a sentence.
#pragma once

#include <string>
#include <vector>

#include "audit/token_objects.h"

namespace escrowless::audit {

// What breaks the private key rules: sensitive, always_sensitive, never_extractable and local
// must be present and true (made in the token, never out of it in the clear); extractable,
// decrypt, unwrap and derive present and false; wrap, when the token reports it, false. An
// absent required flag is a fault too ("never_extractable not reported"): the token is not
// saying. Faults come in a fixed order: capabilities first, then the missing guarantees. Empty when the key obeys every rule.
std::vector<std::string> private_key_faults(const Attributes& flags);

// The escrow capabilities of a secret key: "able to wrap", "able to unwrap", "able to decrypt"
// for each of those flags the token reports true. Empty when it has none.
std::vector<std::string> secret_key_capabilities(const Attributes& flags);

// "a, b and c".
std::string join_phrases(const std::vector<std::string>& phrases);

}  // namespace escrowless::audit
