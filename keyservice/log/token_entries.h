// The log entries that describe the token: its identity, its keys as read back from it, and
// inventories of everything on it. These turn what the PKCS#11 layer reports into the audit/
// entry types, so what is logged is exactly what the token said.
#pragma once

#include <future>
#include <string_view>
#include <vector>

#include "audit/log_entry.h"
#include "keyservice/log/transparency_log.h"
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

// The token's mechanisms as logged: flags and key sizes cut to 32 bits (CK_ULONG is 64 bits
// on most platforms, and some tokens report ULONG_MAX for "no limit").
std::vector<audit::TokenMechanism> entry_mechanisms(const std::vector<pkcs11::Mechanism>& mechanisms);

// An inventory of every object on the token, taken now, as schema 2 parts (log them in order):
// each private key signs its proof of possession, bound to `checkpoint` of the log `origin`
// (audit/inventory_parts.h).
std::vector<audit::HsmInventory> take_inventory_entries(pkcs11::Token& token, std::string_view origin,
                                                        const audit::InventoryCheckpoint& checkpoint);

// Takes an inventory bound to the log's newest signed checkpoint and appends its parts in order
// (the caller keeps keys from changing meanwhile, and one inventory at a time: see
// Devices::log_inventory). The futures are the parts' receipts, part 0 first.
std::vector<std::future<Receipt>> append_inventory(TransparencyLog& log, pkcs11::Token& token);

}  // namespace escrowless::keyservice
