#include "audit/keyaudit/tile_sync.h"

#include <span>
#include <string>

#include "audit/encoding.h"
#include "audit/entry_bundle.h"
#include "audit/error.h"
#include "audit/merkle.h"
#include "audit/tile_coords.h"
#include "audit/tiles.h"

namespace escrowless::keyaudit {
namespace {

using audit::TileId;

std::vector<audit::Hash> fetch_hash_tile(const audit::client::HttpsClient& client, const TileId& tile) {
  const std::string path = audit::tile_path(tile);
  const std::string data = client.get("/" + path);
  try {
    return audit::parse_hash_tile({reinterpret_cast<const uint8_t*>(data.data()), data.size()}, tile);
  } catch (const audit::Error& e) {
    throw ServedDataMismatch(path + " is malformed: " + e.what());
  }
}

uint64_t hashes_at(unsigned level, uint64_t size) { return size >> (audit::kTileHeight * level); }

}  // namespace

ChunkReader tile_chunk_reader(uint64_t size) {
  return [size](const audit::client::HttpsClient& client, uint64_t start, uint64_t count) {
    const TileId tile = audit::tile_in_tree(0, start / audit::kTileWidth, size);
    if (start % audit::kTileWidth != 0 || tile.width != count)
      throw audit::Error(audit::ErrorKind::internal, "tile chunk not aligned on a level-0 tile");
    const std::string bundle_path = audit::entry_bundle_path(tile.index, tile.width);
    const std::string bundle = client.get("/" + bundle_path);
    const std::vector<audit::Hash> hashes = fetch_hash_tile(client, tile);
    std::vector<std::string> entries;
    try {
      entries = audit::parse_entry_bundle(bundle, tile.width);
    } catch (const audit::Error& e) {
      throw ServedDataMismatch(bundle_path + " is malformed: " + e.what());
    }
    Chunk chunk;
    chunk.start = start;
    chunk.entries.reserve(entries.size());
    chunk.leaf_hashes.reserve(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      chunk.entries.emplace_back(entries[i].begin(), entries[i].end());
      chunk.leaf_hashes.push_back(audit::leaf_hash(chunk.entries.back()));
      if (chunk.leaf_hashes.back() != hashes[i]) {
        throw ServedDataMismatch("entry " + std::to_string(start + i) + " of " + bundle_path + " has leaf hash " +
                                 audit::to_base64(chunk.leaf_hashes.back()) + ", but " + audit::tile_path(tile) +
                                 " says " + audit::to_base64(hashes[i]) + ": the bundle or the tile was changed");
      }
    }
    if (!tile.partial()) chunk.tile_root = audit::root_of(chunk.leaf_hashes);
    return chunk;
  };
}

void check_hash_tiles(const audit::client::HttpsClient& client, uint64_t previous_size, uint64_t size,
                      const audit::Hash& root, const Level0Tiles& level0) {
  std::map<std::pair<unsigned, uint64_t>, std::vector<audit::Hash>> upper;  // (level, index)
  // Level by level, the tiles holding a hash new since previous_size, each hash that covers a new
  // leaf checked against the full tile below it.
  for (unsigned level = 1; level <= audit::kMaxTileLevel && hashes_at(level, size) > 0; ++level) {
    const uint64_t first_new = hashes_at(level, previous_size);
    const uint64_t count = hashes_at(level, size);
    for (uint64_t index = first_new / audit::kTileWidth; index * audit::kTileWidth < count; ++index) {
      const TileId tile = audit::tile_in_tree(level, index, size);
      std::vector<audit::Hash> hashes = fetch_hash_tile(client, tile);
      for (unsigned i = 0; i < tile.width; ++i) {
        const uint64_t below = index * audit::kTileWidth + i;
        if (below < first_new) continue;  // an old subtree: bound by the tile's parent or the root
        audit::Hash expected{};
        if (level == 1) {
          const auto found = level0.full_roots.find(below);
          if (found == level0.full_roots.end())
            throw audit::Error(audit::ErrorKind::internal, "level-0 tile " + std::to_string(below) + " was not read");
          expected = found->second;
        } else {
          const auto found = upper.find({level - 1, below});
          if (found == upper.end())
            throw audit::Error(audit::ErrorKind::internal, "a tile below " + audit::tile_path(tile) + " was not read");
          expected = audit::root_of(found->second);
        }
        if (hashes[i] != expected) {
          throw ServedDataMismatch("hash " + std::to_string(i) + " of " + audit::tile_path(tile) + " is " +
                                   audit::to_base64(hashes[i]) + ", but the tile below it hashes to " +
                                   audit::to_base64(expected) + ": the tile was changed");
        }
      }
      upper.emplace(std::make_pair(level, index), std::move(hashes));
    }
  }
  // The root from the tiles at the tree's right edge: binds the partial tiles, and the full ones
  // whose parent covers no new leaf.
  const audit::Hash computed = audit::root_from_tiles(size, [&](const TileId& tile) {
    if (tile.level == 0 && tile.index == level0.edge_index && tile.width == level0.edge.size()) return level0.edge;
    if (tile.level > 0) {
      const auto found = upper.find({tile.level, tile.index});
      if (found != upper.end() && found->second.size() == tile.width) return found->second;
    }
    return fetch_hash_tile(client, tile);
  });
  if (computed != root) {
    throw ServedDataMismatch("the hash tiles give root " + audit::to_base64(computed) + ", not the checkpoint's root " +
                             audit::to_base64(root) + ": a tile at the tree's right edge was changed");
  }
}

}  // namespace escrowless::keyaudit
