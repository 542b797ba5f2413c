#include "audit/entry_bundle.h"

#include "audit/error.h"
#include "audit/tile_coords.h"

namespace escrowless::audit {

std::string format_entry_bundle(std::span<const std::string> entries, uint64_t first_index) {
  if (entries.empty() || entries.size() > kTileWidth) {
    throw invalid_input("an entry bundle holds 1 to 256 entries, not " + std::to_string(entries.size()));
  }
  std::size_t total = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].size() > kMaxBundleEntryBytes) {
      throw invalid_input("entry " + std::to_string(first_index + i) + " is " + std::to_string(entries[i].size()) +
                          " bytes; tlog-tiles entry bundles hold entries of at most 65,535 bytes");
    }
    total += 2 + entries[i].size();
  }
  std::string bundle;
  bundle.reserve(total);
  for (const std::string& entry : entries) {
    bundle.push_back(static_cast<char>(entry.size() >> 8));
    bundle.push_back(static_cast<char>(entry.size() & 0xff));
    bundle.append(entry);
  }
  return bundle;
}

std::vector<std::string> parse_entry_bundle(std::string_view bundle, unsigned count) {
  std::vector<std::string> entries;
  entries.reserve(count);
  std::size_t at = 0;
  while (entries.size() < count) {
    if (bundle.size() - at < 2) {
      throw invalid_input("entry bundle ends after " + std::to_string(entries.size()) + " of " +
                          std::to_string(count) + " entries");
    }
    const std::size_t length = (std::size_t{static_cast<uint8_t>(bundle[at])} << 8) | static_cast<uint8_t>(bundle[at + 1]);
    at += 2;
    if (bundle.size() - at < length) {
      throw invalid_input("entry bundle: entry " + std::to_string(entries.size()) + " is cut short (" +
                          std::to_string(length) + " bytes announced, " + std::to_string(bundle.size() - at) +
                          " left)");
    }
    entries.emplace_back(bundle.substr(at, length));
    at += length;
  }
  if (at != bundle.size()) {
    throw invalid_input("entry bundle: " + std::to_string(bundle.size() - at) + " bytes after its " +
                        std::to_string(count) + " entries");
  }
  return entries;
}

void check_entry_bundle(std::span<const std::string> entries, std::span<const Hash> level0_tile, uint64_t first_index) {
  if (entries.size() != level0_tile.size()) {
    throw invalid_input("entry bundle holds " + std::to_string(entries.size()) + " entries, its tile " +
                        std::to_string(level0_tile.size()) + " hashes");
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (leaf_hash(entries[i]) != level0_tile[i]) {
      throw mismatch("entry " + std::to_string(first_index + i) + " does not hash to its leaf hash in the tile (" +
                     to_hex(level0_tile[i]) + ")");
    }
  }
}

}  // namespace escrowless::audit
