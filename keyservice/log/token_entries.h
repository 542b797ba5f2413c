// The log entries that describe the token: its identity, its keys as read back from it, and
// inventories of everything on it. These turn what the PKCS#11 layer reports into the audit/
// entry types, so what is logged is exactly what the token said.
#pragma once

#include <vector>

#include "audit/log_entry.h"
#include "pkcs11/inventory.h"
#include "pkcs11/keys.h"
#include "pkcs11/slot.h"
#include "pkcs11/token.h"

namespace escrowless::keyservice {

audit::Token entry_token(const pkcs11::TokenInfo& token);
audit::Attributes entry_attributes(const pkcs11::ObjectAttributes& attributes);
audit::KeyAlgorithm entry_algorithm(pkcs11::Algorithm algorithm);

// The key with both halves' attributes as the token reports them now.
audit::TokenKey read_token_key(pkcs11::SessionPool& pool, const pkcs11::KeyPair& key);

// An inventory of every object on the token, taken now.
audit::HsmInventory take_inventory_entry(pkcs11::Token& token);

}  // namespace escrowless::keyservice
