// JSON forms of what the PKCS#11 layer reports: token info, mechanisms, object attributes and
// inventories. keyadmin prints them, and hsm.inventory log entries and the admin API use the same
// shapes, so an auditor reads one vocabulary everywhere.
#pragma once

#include <nlohmann/json.hpp>

#include "pkcs11/inventory.h"
#include "pkcs11/keys.h"
#include "pkcs11/module.h"
#include "pkcs11/object_attributes.h"
#include "pkcs11/slot.h"

namespace escrowless::keyservice {

nlohmann::json token_json(const pkcs11::TokenInfo& token, const CK_INFO& library);
nlohmann::json mechanisms_json(const std::vector<pkcs11::Mechanism>& mechanisms);

// {"class", "key_type", "id" (hex), "label", "flags": {"sensitive": true, ...}}; attributes the
// object lacks are left out of "flags".
nlohmann::json attributes_json(const pkcs11::ObjectAttributes& attributes);

// attributes_json plus "public_key_sha256" (hex of SHA-256 over the DER SubjectPublicKeyInfo).
nlohmann::json inventory_json(const std::vector<pkcs11::InventoryItem>& items);

// {"algorithm", "label", "id", "public_key" (base64 raw), "public_key_pem"}.
nlohmann::json key_pair_json(const pkcs11::KeyPair& key);

// PEM "PUBLIC KEY" text of a DER SubjectPublicKeyInfo.
std::string public_key_pem(std::span<const std::uint8_t> spki_der);

}  // namespace escrowless::keyservice
