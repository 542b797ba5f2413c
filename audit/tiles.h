// C2SP tlog-tiles contents: hash tiles as bytes, and tree hashes computed from tiles, for
// auditors and mirrors that read a log as static files. The caller fetches and parses tiles;
// everything here is pure.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "audit/hash.h"
#include "audit/tile_coords.h"

namespace escrowless::audit {

// A hash tile's bytes: its hashes concatenated (32 bytes each, no framing). Requires 1 to 256
// hashes; throws invalid_input otherwise.
std::string format_hash_tile(std::span<const Hash> hashes);

// The hashes of `tile` from its bytes. Throws invalid_input unless there are exactly
// tile.width * 32 bytes.
std::vector<Hash> parse_hash_tile(std::span<const uint8_t> data, const TileId& tile);

// Returns the hashes of one tile (fetched, checked for size by parse_hash_tile).
using TileReader = std::function<std::vector<Hash>(const TileId&)>;

// The hash of the perfect subtree `node`, complete in the tree of `size` leaves, from the one
// tile that holds its descendants at level 8 * floor(node.level / 8). Throws invalid_input if
// the node is not complete in that tree, or the reader returns the wrong number of hashes.
Hash subtree_hash_from_tiles(const NodeId& node, uint64_t size, const TileReader& read);

// MTH of the tree of `size` leaves from its tiles (at most one tile per perfect subtree of the
// tree's decomposition, so O(log size) tiles, each read once). empty_root() for size 0.
Hash root_from_tiles(uint64_t size, const TileReader& read);

}  // namespace escrowless::audit
