// C2SP tlog-tiles coordinates (https://c2sp.org/tlog-tiles): which tiles a tree has, how wide
// each is, which subtree hashes fill it, and their paths. Pure values, no hashing, no storage.
//
// A tile at level L holds up to 256 consecutive hashes of perfect subtrees of 2^(8L) leaves:
// hash i of tile N is MTH(D[(N*256 + i) * 256^L : (N*256 + i + 1) * 256^L]), i.e. the subtree
// NodeId{8L, N*256 + i} of tree_coords.h. A tree of size S has, at level L, floor(S / 256^L)
// such hashes: full tiles of 256, then one partial tile of (floor(S / 256^L) mod 256) hashes
// unless that is 0. Level 0 tiles hold leaf hashes, and the entry bundle of the same index and
// width holds their entries.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/tree_coords.h"

namespace escrowless::audit {

inline constexpr unsigned kTileHeight = 8;
inline constexpr unsigned kTileWidth = 256;  // 1 << kTileHeight
// Trees have at most 2^64 - 1 leaves, so tiles of level 8 (subtrees of 2^64) never exist.
inline constexpr unsigned kMaxTileLevel = 7;

struct TileId {
  unsigned level = 0;         // L
  uint64_t index = 0;         // N
  unsigned width = kTileWidth; // W: 1..256; 256 is a full tile, anything less a partial one

  bool partial() const noexcept { return width < kTileWidth; }
  friend bool operator==(const TileId&, const TileId&) = default;
};

// How many hashes tile `index` of `level` holds in the tree of `size` leaves: 0 (it does not
// exist) to 256. Requires level <= kMaxTileLevel; throws invalid_input otherwise.
unsigned tile_width_in_tree(unsigned level, uint64_t index, uint64_t size);

// The tile of `level` and `index` as the tree of `size` leaves has it (full, or partial at the
// right edge). Requires it to exist (tile_width_in_tree > 0); throws invalid_input otherwise.
TileId tile_in_tree(unsigned level, uint64_t index, uint64_t size);

// Every tile of the tree of `size` leaves, level by level, left to right: the full tiles and
// the partial tile at each level where there is one. `visit` returning false stops the walk.
void for_each_tile(uint64_t size, const std::function<bool(const TileId&)>& visit);

// The subtrees whose hashes the tile holds, in order: NodeId{8L, N*256 + i} for i < W.
std::vector<NodeId> tile_nodes(const TileId& tile);

// The tile and position holding the hash of the perfect subtree `node` whose level is a
// multiple of 8, as the tree of `size` leaves has it. Requires such a node, complete in that
// tree; throws invalid_input otherwise.
struct TilePosition {
  TileId tile;
  unsigned offset = 0;  // 0..255
};
TilePosition tile_position(const NodeId& node, uint64_t size);

// "x001/x234/067" for 1234067: zero-padded 3-digit groups, all but the last prefixed with 'x'.
std::string format_tile_index(uint64_t index);

// "tile/<L>/<N>[.p/<W>]" and "tile/entries/<N>[.p/<W>]" (relative to the log's prefix).
// Require a level <= 63 and a width of 1..256; throw invalid_input otherwise.
std::string tile_path(const TileId& tile);
std::string entry_bundle_path(uint64_t index, unsigned width);

// A path as tile_path() or entry_bundle_path() writes it (relative, no leading '/').
struct ParsedTilePath {
  bool entries = false;  // an entry bundle; tile.level is then 0
  TileId tile;
};
// Strict: only the exact form the functions above produce for some tile (so each tile has one
// path: no leading zeros, no "x000" group, no ".p/256"). Levels above kMaxTileLevel are refused
// too, as no tree has them. Throws invalid_input naming the path otherwise.
ParsedTilePath parse_tile_path(std::string_view path);

}  // namespace escrowless::audit
