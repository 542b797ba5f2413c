#include "audit/tile_coords.h"

#include <charconv>

#include "audit/error.h"

namespace escrowless::audit {
namespace {

// Hashes of level 8L in the tree of `size` leaves (perfect subtrees of 256^L leaves).
uint64_t hashes_at_level(unsigned level, uint64_t size) {
  if (level > kMaxTileLevel) {
    throw invalid_input("tile level " + std::to_string(level) + " exceeds " + std::to_string(kMaxTileLevel));
  }
  return size >> (kTileHeight * level);
}

void check_path_parts(unsigned level, unsigned width) {
  if (level > 63) throw invalid_input("tile level " + std::to_string(level) + " is above 63");
  if (width == 0 || width > kTileWidth) throw invalid_input("tile width must be 1 to 256, not " + std::to_string(width));
}

std::string width_suffix(unsigned width) {
  return width == kTileWidth ? std::string() : ".p/" + std::to_string(width);
}

// A decimal without sign or leading zeros ("0" itself allowed), within `max`.
bool parse_decimal(std::string_view text, uint64_t max, uint64_t& value) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && value <= max;
}

}  // namespace

unsigned tile_width_in_tree(unsigned level, uint64_t index, uint64_t size) {
  const uint64_t count = hashes_at_level(level, size);
  const uint64_t full_tiles = count / kTileWidth;
  if (index < full_tiles) return kTileWidth;
  if (index == full_tiles) return static_cast<unsigned>(count % kTileWidth);
  return 0;
}

TileId tile_in_tree(unsigned level, uint64_t index, uint64_t size) {
  const unsigned width = tile_width_in_tree(level, index, size);
  if (width == 0) {
    throw invalid_input("the tree of size " + std::to_string(size) + " has no tile " + std::to_string(index) +
                        " at level " + std::to_string(level));
  }
  return {level, index, width};
}

void for_each_tile(uint64_t size, const std::function<bool(const TileId&)>& visit) {
  for (unsigned level = 0; level <= kMaxTileLevel; ++level) {
    const uint64_t count = hashes_at_level(level, size);
    if (count == 0) return;
    const uint64_t full_tiles = count / kTileWidth;
    for (uint64_t index = 0; index < full_tiles; ++index) {
      if (!visit({level, index, kTileWidth})) return;
    }
    if (count % kTileWidth != 0 && !visit({level, full_tiles, static_cast<unsigned>(count % kTileWidth)})) return;
  }
}

std::vector<NodeId> tile_nodes(const TileId& tile) {
  check_path_parts(tile.level, tile.width);
  if (tile.level > kMaxTileLevel || tile.index > (UINT64_MAX >> (kTileHeight * (tile.level + 1)))) {
    throw invalid_input("tile " + std::to_string(tile.level) + "/" + std::to_string(tile.index) +
                        " lies beyond any tree");
  }
  std::vector<NodeId> nodes;
  nodes.reserve(tile.width);
  for (unsigned i = 0; i < tile.width; ++i) {
    nodes.push_back({kTileHeight * tile.level, tile.index * kTileWidth + i});
  }
  return nodes;
}

TilePosition tile_position(const NodeId& node, uint64_t size) {
  if (node.level % kTileHeight != 0) {
    throw invalid_input("subtree " + to_string(node) + " is not at a tile level (a multiple of 8)");
  }
  const unsigned level = node.level / kTileHeight;
  if (node.index >= hashes_at_level(level, size)) {
    throw invalid_input("subtree " + to_string(node) + " is not complete in the tree of size " + std::to_string(size));
  }
  const uint64_t index = node.index / kTileWidth;
  return {{level, index, tile_width_in_tree(level, index, size)}, static_cast<unsigned>(node.index % kTileWidth)};
}

std::string format_tile_index(uint64_t index) {
  std::vector<unsigned> groups;  // least significant first
  do {
    groups.push_back(static_cast<unsigned>(index % 1000));
    index /= 1000;
  } while (index != 0);
  std::string path;
  for (std::size_t i = groups.size(); i-- > 0;) {
    if (i != 0) path += 'x';
    const std::string digits = std::to_string(groups[i]);
    path.append(3 - digits.size(), '0');
    path += digits;
    if (i != 0) path += '/';
  }
  return path;
}

std::string tile_path(const TileId& tile) {
  check_path_parts(tile.level, tile.width);
  return "tile/" + std::to_string(tile.level) + "/" + format_tile_index(tile.index) + width_suffix(tile.width);
}

std::string entry_bundle_path(uint64_t index, unsigned width) {
  check_path_parts(0, width);
  return "tile/entries/" + format_tile_index(index) + width_suffix(width);
}

ParsedTilePath parse_tile_path(std::string_view path) {
  const auto fail = [&path](const std::string& why) {
    return invalid_input("tile path '" + std::string(path.substr(0, 128)) + "': " + why);
  };
  if (!path.starts_with("tile/")) throw fail("does not start with tile/");
  std::string_view rest = path.substr(5);
  ParsedTilePath parsed;
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) throw fail("no tile index");
  const std::string_view level_part = rest.substr(0, slash);
  rest = rest.substr(slash + 1);
  if (level_part == "entries") {
    parsed.entries = true;
  } else {
    uint64_t level = 0;
    if (!parse_decimal(level_part, kMaxTileLevel, level)) {
      throw fail("the level must be 0 to " + std::to_string(kMaxTileLevel) + " without leading zeros");
    }
    parsed.tile.level = static_cast<unsigned>(level);
  }
  // Split off ".p/<W>".
  if (const std::size_t dot = rest.find(".p/"); dot != std::string_view::npos) {
    uint64_t width = 0;
    if (!parse_decimal(rest.substr(dot + 3), kTileWidth - 1, width) || width == 0) {
      throw fail("a partial tile's width must be 1 to 255 without leading zeros");
    }
    parsed.tile.width = static_cast<unsigned>(width);
    rest = rest.substr(0, dot);
  }
  // The index: 3-digit groups, 'x' before all but the last.
  uint64_t index = 0;
  while (true) {
    const std::size_t next = rest.find('/');
    const bool last = next == std::string_view::npos;
    std::string_view group = last ? rest : rest.substr(0, next);
    if (!last) {
      if (!group.starts_with('x')) throw fail("every index group but the last starts with 'x'");
      group.remove_prefix(1);
    }
    if (group.size() != 3 || group.find_first_not_of("0123456789") != std::string_view::npos) {
      throw fail("index groups are 3 digits");
    }
    const uint64_t value = static_cast<uint64_t>((group[0] - '0') * 100 + (group[1] - '0') * 10 + (group[2] - '0'));
    if (index > (UINT64_MAX - value) / 1000) throw fail("the index exceeds 64 bits");
    index = index * 1000 + value;
    if (last) break;
    rest = rest.substr(next + 1);
  }
  parsed.tile.index = index;
  // One path per tile: whatever was read must be written back the same ("x000/001" is not 1).
  const std::string canonical =
      parsed.entries ? entry_bundle_path(index, parsed.tile.width) : tile_path(parsed.tile);
  if (canonical != path) throw fail("not in canonical form (" + canonical + ")");
  return parsed;
}

}  // namespace escrowless::audit
