// `keyadmin token check`: the preflight an operator runs on a new token before trusting it with
// the no-escrow claim. It makes a throwaway key pair per algorithm the service could use (P-256
// always, Ed25519 where offered) with the service's own template and code path, and reports:
// - every security and capability attribute as asked, as read back: honoured, forced (the
//   token made it differently) or ignored (the token reports no value);
// - the private key judged by the auditor's rules (audit/key_policy.h), except that a forced
//   decrypt, unwrap or derive flag is accepted when no mechanism the token offers could use it
//   with this key type (the capability rule of DESIGN section 2; keyaudit applies the same idea
//   to the mechanism list in the log);
// - whether the token would reveal the private value: a length-only query, which cannot bring
//   key material into this process (pkcs11::probe_private_value);
// - wrapping: NOT attempted. Proving a refusal would need a wrap-capable secret key made on the
//   token (an escrow capability in its own right, left behind if the check dies midway) and a
//   call of the key wrapping function, which no code of ours may contain
//   (tests/security/source_scan.sh). PKCS#11 defines that function's refusal by CKA_EXTRACTABLE
//   false (CKR_KEY_UNEXTRACTABLE), so the check reads that back, with CKA_NEVER_EXTRACTABLE and
//   CKA_WRAP_WITH_TRUSTED, and lists the wrap mechanisms the token offers;
// - a signature made by the token and verified by OpenSSL, and signatures per second;
// - the mechanisms we need that are missing, and the limits CK_TOKEN_INFO reports.
// The key is destroyed afterwards, also when a step fails, and looked for again to prove it.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "pkcs11/token.h"

namespace escrowless::keyadmin {

struct AttributeCheck {
  std::string half;                // "public" or "private"
  std::string name;                // "decrypt", "local", ...
  std::optional<bool> requested;   // nullopt: not in our template (reported by the token only)
  bool left_to_token = false;      // the token refused it; it was left out of the template
  std::optional<bool> actual;      // nullopt: the token reports no value
  std::string status;              // "honoured", "forced", "ignored" or "reported"
};

struct KeyCheck {
  pkcs11::Algorithm algorithm = pkcs11::Algorithm::ecdsa_p256;
  std::optional<std::string> generation_error;  // the key could not be made (the reason)
  std::vector<AttributeCheck> attributes;
  std::vector<std::string> faults;           // the no-escrow rules the private key breaks
  std::vector<std::string> accepted_forced;  // forced capabilities no offered mechanism can use
  std::optional<bool> value_refused;         // the private value length query was refused
  std::string value_answer;                  // "CKR_ATTRIBUTE_SENSITIVE", "CKR_OK, 32 bytes", ...
  std::optional<bool> signature_verified;
  std::string signature_error;
  unsigned long signatures = 0;  // signed in the throughput run
  double seconds = 0;
  std::optional<bool> destroyed;
  std::string destroy_error;
};

struct TokenCheck {
  pkcs11::TokenInfo info;
  CK_INFO library{};
  std::vector<pkcs11::Mechanism> mechanisms;
  std::vector<std::string> missing_mechanisms;  // mechanisms the service needs, not offered
  std::vector<std::string> wrap_mechanisms;     // offered with CKF_WRAP or CKF_UNWRAP
  std::vector<KeyCheck> keys;
  std::vector<std::string> reasons;  // why the token cannot carry the claim; empty when it can

  bool carries_claim() const { return reasons.empty(); }
};

// Runs every step on a logged-in token. `seconds` bounds each throughput run (> 0). Throws
// pkcs11::Error only when the token cannot be used at all (lost, or no key can be tried).
TokenCheck run_token_check(pkcs11::Token& token, double seconds);

nlohmann::json token_check_json(const TokenCheck& check);
void print_token_check(std::ostream& out, const TokenCheck& check);

}  // namespace escrowless::keyadmin
