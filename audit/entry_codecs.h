// The JSON form of each entry type, both ways. Internal to log_entry.cc, which adds the
// canonical encoding, the type dispatch and the entry type in error messages.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "audit/log_entry.h"

namespace escrowless::audit::entry_json {

// Readers take the whole parsed entry, whose "type" the caller has already matched, and throw
// invalid_input "<field path>: <problem>".
HsmProvisioned read_hsm_provisioned(const nlohmann::json& entry);
DeviceEnrolled read_device_enrolled(const nlohmann::json& entry);
PrekeysSigned read_prekeys_signed(const nlohmann::json& entry);
DeviceRevoked read_device_revoked(const nlohmann::json& entry);
HsmInventory read_hsm_inventory(const nlohmann::json& entry);

// Writers do not validate; LogEntry::to_bytes() reads their output back to do that.
nlohmann::json write_entry(const HsmProvisioned& entry);
nlohmann::json write_entry(const DeviceEnrolled& entry);
nlohmann::json write_entry(const PrekeysSigned& entry);
nlohmann::json write_entry(const DeviceRevoked& entry);
nlohmann::json write_entry(const HsmInventory& entry);

// The bytes one object adds to a schema 2 part (its canonical JSON, without the comma).
std::size_t inventory_object_size(const InventoryObject& object);

// A token's mechanism list, as hsm.provisioned and inventory headers carry it.
std::vector<TokenMechanism> read_mechanisms(const nlohmann::json& value, const std::string& path);
nlohmann::json write_mechanisms(const std::vector<TokenMechanism>& mechanisms);

}  // namespace escrowless::audit::entry_json
