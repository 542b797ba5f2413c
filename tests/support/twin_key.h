// What an attacker holding the PIN can do to pass a key of their own as a device's key: make a
// second strict sign-only private key with the victim's CKA_ID and label, its public half only a
// session object (gone when the session closes), so the token lists one public key for the id
// and every lookup by id or label finds two private keys. Used by the pkcs11 suite (every token
// kind) and by make_bad_keys for keyaudit's end-to-end test.
#pragma once

#include <mutex>

#include "pkcs11/key_generation.h"
#include "pkcs11/keys.h"
#include "pkcs11/object_lock.h"

namespace escrowless::testing {

inline void plant_twin_key(pkcs11::SessionPool& pool, const pkcs11::KeyPair& victim) {
  pkcs11::KeyPairTemplate twin = pkcs11::signing_key_template(victim.public_key.algorithm, victim.id, victim.label);
  twin.public_key.attributes = twin.public_key.attributes.without(CKA_TOKEN);
  twin.public_key.attributes.add_bool(CKA_TOKEN, false);
  pool.run([&](pkcs11::Session& session) {
    const std::unique_lock changing(pkcs11::token_objects_lock());
    try {
      pkcs11::generate_negotiated(session, twin);
    } catch (const pkcs11::Error& e) {
      // A token that makes no session key objects: the public half stays on the token, which
      // gives the twin a public key of its own (still two private keys on one id).
      if (e.kind() != pkcs11::ErrorKind::template_refused) throw;
      pkcs11::generate_negotiated(session, pkcs11::signing_key_template(victim.public_key.algorithm, victim.id, victim.label));
    }
  });
}

}  // namespace escrowless::testing
