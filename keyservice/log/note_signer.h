// Signs checkpoints as C2SP signed notes with the log key, which lives in the token and never
// leaves it. Ed25519 keys sign the note text (type 0x01); ECDSA P-256 keys sign SHA-256 of it and
// the raw r‖s from the token is turned into DER (type 0x02, as the signed-note spec requires).
#pragma once

#include <string>
#include <string_view>

#include "audit/verifier_key.h"
#include "pkcs11/keys.h"
#include "pkcs11/session_pool.h"

namespace escrowless::keyservice {

class NoteSigner {
 public:
  virtual ~NoteSigner() = default;
  virtual const audit::VerifierKey& verifier() const = 0;
  // The signed note: `text` (ending in a newline) with this key's signature line appended.
  virtual std::string sign(std::string_view text) = 0;
};

class TokenNoteSigner final : public NoteSigner {
 public:
  // `name` is the key name in notes; for checkpoints, the log's origin.
  TokenNoteSigner(pkcs11::SessionPool& pool, pkcs11::KeyPair key, std::string_view name);

  const audit::VerifierKey& verifier() const override { return verifier_; }
  std::string sign(std::string_view text) override;

 private:
  pkcs11::SessionPool& pool_;
  pkcs11::KeyPair key_;
  audit::VerifierKey verifier_;
};

// The verifier key of a token key under `name`.
audit::VerifierKey verifier_key_for(const pkcs11::PublicKey& key, std::string_view name);

}  // namespace escrowless::keyservice
