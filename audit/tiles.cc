#include "audit/tiles.h"

#include <map>
#include <utility>

#include "audit/error.h"
#include "audit/merkle.h"
#include "audit/proof_shape.h"

namespace escrowless::audit {
namespace {

std::vector<Hash> read_checked(const TileReader& read, const TileId& tile) {
  std::vector<Hash> hashes = read(tile);
  if (hashes.size() != tile.width) {
    throw invalid_input(tile_path(tile) + ": expected " + std::to_string(tile.width) + " hashes, got " +
                        std::to_string(hashes.size()));
  }
  return hashes;
}

// The subtree's hash from the tile already read for it.
Hash subtree_hash_in(const NodeId& node, const TileId& tile, std::span<const Hash> hashes) {
  const unsigned below = node.level % kTileHeight;  // levels between the tile's hashes and the node
  const uint64_t first = node.index << below;       // in the tile level's index space
  const std::size_t offset = static_cast<std::size_t>(first - tile.index * kTileWidth);
  return root_of(hashes.subspan(offset, std::size_t{1} << below));
}

TileId tile_for(const NodeId& node, uint64_t size) {
  const unsigned below = node.level % kTileHeight;
  if (node.level >= 64 || node.index > (UINT64_MAX >> node.level)) {
    throw invalid_input("subtree " + to_string(node) + " lies beyond any tree");
  }
  const NodeId first{node.level - below, node.index << below};
  const NodeId last{node.level - below, ((node.index + 1) << below) - 1};
  // Complete in the tree: its last descendant at the tile level is (tile_position checks).
  tile_position(last, size);
  return tile_position(first, size).tile;
}

}  // namespace

std::string format_hash_tile(std::span<const Hash> hashes) {
  if (hashes.empty() || hashes.size() > kTileWidth) {
    throw invalid_input("a hash tile holds 1 to 256 hashes, not " + std::to_string(hashes.size()));
  }
  std::string data;
  data.reserve(hashes.size() * kHashSize);
  for (const Hash& hash : hashes) data.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  return data;
}

std::vector<Hash> parse_hash_tile(std::span<const uint8_t> data, const TileId& tile) {
  if (data.size() != std::size_t{tile.width} * kHashSize) {
    throw invalid_input(tile_path(tile) + ": " + std::to_string(data.size()) + " bytes, expected " +
                        std::to_string(std::size_t{tile.width} * kHashSize));
  }
  std::vector<Hash> hashes(tile.width);
  for (std::size_t i = 0; i < hashes.size(); ++i) hashes[i] = hash_from_bytes(data.subspan(i * kHashSize, kHashSize));
  return hashes;
}

Hash subtree_hash_from_tiles(const NodeId& node, uint64_t size, const TileReader& read) {
  const TileId tile = tile_for(node, size);
  const std::vector<Hash> hashes = read_checked(read, tile);
  return subtree_hash_in(node, tile, hashes);
}

Hash root_from_tiles(uint64_t size, const TileReader& read) {
  if (size == 0) return empty_root();
  const std::vector<NodeId> nodes = perfect_subtrees({0, size});
  std::map<std::pair<unsigned, uint64_t>, std::vector<Hash>> tiles;  // subtrees may share a tile
  std::vector<Hash> hashes;
  hashes.reserve(nodes.size());
  for (const NodeId& node : nodes) {
    const TileId tile = tile_for(node, size);
    auto found = tiles.find({tile.level, tile.index});
    if (found == tiles.end()) found = tiles.emplace(std::pair{tile.level, tile.index}, read_checked(read, tile)).first;
    hashes.push_back(subtree_hash_in(node, tile, found->second));
  }
  return fold_subtrees(hashes);
}

}  // namespace escrowless::audit
