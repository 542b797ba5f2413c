// Schema 2 inventories (docs/log-format.md 5.5): one inventory of a token, split into parts that
// each fit a tlog-tiles entry bundle (at most kMaxPartEntrySize bytes as a log entry), and the
// message each private key object signs to prove it holds the key it claims. The server splits
// and signs with these; the auditor (inventory_assembly.h) checks with the same definitions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "audit/log_entry.h"

namespace escrowless::audit {

// An inventory before it is split: what the token showed, and what binds it to the log.
struct WholeInventory {
  EntryTime time;
  Token token;
  std::array<uint8_t, kInventoryIdSize> id{};
  InventoryCheckpoint checkpoint;
  std::vector<TokenMechanism> mechanisms;
  std::vector<InventoryObject> objects;  // at most kMaxInventoryObjectsV2
};

// The parts, in order: part 0 carries the header, every part as many objects as fit within
// `max_entry_size` bytes (at least one object a part; an empty inventory is one empty part).
// Every part is checked with to_bytes(). Throws invalid_input when an object or the header
// alone can't fit, or the inventory has too many objects.
std::vector<HsmInventory> split_inventory(const WholeInventory& inventory,
                                          std::size_t max_entry_size = kMaxPartEntrySize);

// The message the private key object at `position` (0-based, over all parts) signs: the lines
//   escrowless inventory proof v1
//   <origin>
//   <checkpoint size>
//   <checkpoint root, lowercase hex>
//   <inventory id, lowercase hex>
//   <position>
// each ended by "\n". Ed25519 keys sign it as is; P-256 keys sign its SHA-256 (raw r || s), as
// for prekey signatures. The origin and checkpoint tie it to this log; id and position make
// every proof unique, so no proof can be reused for another object or inventory.
std::vector<uint8_t> inventory_proof_message(std::string_view origin,
                                             const InventoryCheckpoint& checkpoint,
                                             std::span<const uint8_t, kInventoryIdSize> id,
                                             uint64_t position);

}  // namespace escrowless::audit
