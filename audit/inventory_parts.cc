#include "audit/inventory_parts.h"

#include <string>

#include "audit/canonical_json.h"
#include "audit/encoding.h"
#include "audit/entry_codecs.h"
#include "audit/error.h"

namespace escrowless::audit {
namespace {

// The size of a part without objects, with every number at its widest so no real part's
// numbers can make it larger.
std::size_t empty_part_size(const WholeInventory& inventory, bool with_header) {
  HsmInventory part{inventory.time, inventory.token, {},
                    InventoryPart{inventory.id, static_cast<uint32_t>(kMaxInventoryObjectsV2),
                                  static_cast<uint32_t>(kMaxInventoryObjectsV2), kMaxInventoryObjectsV2,
                                  std::nullopt}};
  if (with_header) {
    part.part->header = InventoryHeader{kMaxInventoryObjectsV2, inventory.checkpoint, inventory.mechanisms};
  }
  return canonical_json(entry_json::write_entry(part)).size();
}

}  // namespace

std::vector<HsmInventory> split_inventory(const WholeInventory& inventory, std::size_t max_entry_size) {
  if (inventory.objects.size() > kMaxInventoryObjectsV2) {
    throw invalid_input("an inventory holds at most " + std::to_string(kMaxInventoryObjectsV2) +
                        " objects, got " + std::to_string(inventory.objects.size()));
  }
  const std::size_t first_base = empty_part_size(inventory, true);
  const std::size_t other_base = empty_part_size(inventory, false);
  if (first_base > max_entry_size) {
    throw invalid_input("the inventory header (" + std::to_string(inventory.mechanisms.size()) +
                        " mechanisms) does not fit one entry of " + std::to_string(max_entry_size) + " bytes");
  }
  // Which objects go in which part: [starts[i], starts[i + 1]).
  std::vector<std::size_t> starts{0};
  std::size_t used = first_base;
  std::size_t in_part = 0;
  for (std::size_t i = 0; i < inventory.objects.size(); ++i) {
    const std::size_t size = entry_json::inventory_object_size(inventory.objects[i]) + 1;  // + comma
    if (in_part > 0 && used + size > max_entry_size) {
      starts.push_back(i);
      used = other_base;
      in_part = 0;
    }
    if (used + size > max_entry_size) {
      throw invalid_input("inventory object " + std::to_string(i) + " does not fit one entry of " +
                          std::to_string(max_entry_size) + " bytes");
    }
    used += size;
    ++in_part;
  }
  starts.push_back(inventory.objects.size());

  const auto count = static_cast<uint32_t>(starts.size() - 1);
  std::vector<HsmInventory> parts;
  parts.reserve(count);
  for (uint32_t p = 0; p < count; ++p) {
    HsmInventory part{inventory.time, inventory.token,
                      {inventory.objects.begin() + static_cast<std::ptrdiff_t>(starts[p]),
                       inventory.objects.begin() + static_cast<std::ptrdiff_t>(starts[p + 1])},
                      InventoryPart{inventory.id, p, count, starts[p], std::nullopt}};
    if (p == 0) {
      part.part->header =
          InventoryHeader{inventory.objects.size(), inventory.checkpoint, inventory.mechanisms};
    }
    if (const std::size_t size = part.to_bytes().size(); size > max_entry_size) {
      throw Error(ErrorKind::internal, "inventory part " + std::to_string(p) + " came to " +
                                           std::to_string(size) + " bytes, over " +
                                           std::to_string(max_entry_size));
    }
    parts.push_back(std::move(part));
  }
  return parts;
}

std::vector<uint8_t> inventory_proof_message(std::string_view origin,
                                             const InventoryCheckpoint& checkpoint,
                                             std::span<const uint8_t, kInventoryIdSize> id,
                                             uint64_t position) {
  std::string text = "escrowless inventory proof v1\n";
  text += origin;
  text += "\n" + std::to_string(checkpoint.size) + "\n" + to_hex(checkpoint.root) + "\n" +
          hex_encode(id) + "\n" + std::to_string(position) + "\n";
  return {text.begin(), text.end()};
}

}  // namespace escrowless::audit
