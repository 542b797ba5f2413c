// C2SP tlog-tiles: coordinates and paths (the spec's examples and Go's sumdb/tlog path cases with
// the height taken out), tile contents and roots computed from tiles against a naive tree for
// every size up to 560 and the edges of larger ones, and entry bundles.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "audit/entry_bundle.h"
#include "audit/merkle.h"
#include "audit/tile_coords.h"
#include "audit/tiles.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::IsInvalidInput;
using test::IsMismatch;

namespace {

std::vector<TileId> all_tiles(uint64_t size) {
  std::vector<TileId> tiles;
  for_each_tile(size, [&tiles](const TileId& tile) {
    tiles.push_back(tile);
    return true;
  });
  return tiles;
}

// Leaf hashes of a tree with distinct entries, and the subtree hashes of the tile levels (8 and
// 16) computed once, naively, from them.
struct ReferenceTree {
  std::vector<Hash> leaves;
  std::map<unsigned, std::vector<Hash>> levels;  // level -> hashes of its complete subtrees
  explicit ReferenceTree(uint64_t size) {
    for (uint64_t i = 0; i < size; ++i) leaves.push_back(leaf_hash("entry " + std::to_string(i)));
    levels[0] = leaves;
    for (const unsigned level : {8u, 16u}) {
      for (uint64_t index = 0; (index + 1) << level <= size; ++index) {
        levels[level].push_back(root_of(std::span(leaves).subspan(index << level, std::size_t{1} << level)));
      }
    }
  }
  Hash node(const NodeId& id) const { return levels.at(id.level).at(id.index); }
  std::vector<Hash> tile(const TileId& tile) const {
    std::vector<Hash> hashes;
    for (const NodeId& id : tile_nodes(tile)) hashes.push_back(node(id));
    return hashes;
  }
};

}  // namespace

TEST_CASE("tile indices are 3-digit groups, all but the last prefixed with x", "[unit][vectors]") {
  CHECK(format_tile_index(0) == "000");
  CHECK(format_tile_index(5) == "005");
  CHECK(format_tile_index(999) == "999");
  CHECK(format_tile_index(1000) == "x001/000");
  CHECK(format_tile_index(1234067) == "x001/x234/067");  // the spec's example
  CHECK(format_tile_index(123456078) == "x123/x456/078");
  CHECK(format_tile_index(UINT64_MAX) == "x018/x446/x744/x073/x709/x551/615");
}

TEST_CASE("tile paths round-trip and only canonical paths parse", "[unit][vectors]") {
  // Go's sumdb/tlog TestTilePath cases (tlog_test.go), without their height element.
  const std::vector<std::pair<std::string, TileId>> good = {
      {"tile/0/001", {0, 1, 256}},
      {"tile/0/001.p/5", {0, 1, 5}},
      {"tile/5/x123/x456/078", {5, 123456078, 256}},
      {"tile/5/x123/x456/078.p/2", {5, 123456078, 2}},
      {"tile/0/x003/x057/500", {0, 3057500, 256}},
      {"tile/7/000.p/255", {7, 0, 255}},
  };
  for (const auto& [path, tile] : good) {
    INFO(path);
    CHECK(tile_path(tile) == path);
    const ParsedTilePath parsed = parse_tile_path(path);
    CHECK_FALSE(parsed.entries);
    CHECK(parsed.tile == tile);
  }
  const ParsedTilePath bundle = parse_tile_path("tile/entries/x001/x234/067.p/17");
  CHECK(bundle.entries);
  CHECK(bundle.tile == TileId{0, 1234067, 17});
  CHECK(entry_bundle_path(1234067, 17) == "tile/entries/x001/x234/067.p/17");
  CHECK(entry_bundle_path(3, 256) == "tile/entries/003");

  for (const std::string bad :
       {"tile/5/123/456/078", "tile/5/-1/123/456/078", "tile/0/x000/001", "tile/00/001", "tile/0/1", "tile/0/0001",
        "tile/0/001.p/256", "tile/0/001.p/0", "tile/0/001.p/05", "tile/0/001.p/", "tile/0/001.p", "tile/8/000",
        "tile/63/000", "tile/0/", "tile/0", "tile//000", "tile/0/000/", "/tile/0/000", "tile/entries/",
        "tile/entries/x000", "tile/data/000", "tile/0/x/000", "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x999/x999/x999/x999/x999/x999/x999/999", "tile/0/abc", "tile/0/001.p/1/2"}) {
    INFO(bad);
    CHECK_THROWS_MATCHES(parse_tile_path(bad), Error, IsInvalidInput());
  }
}

TEST_CASE("a tree has the tiles the spec lists", "[unit][vectors]") {
  // The spec's example: 70,000 leaves are 273 full level-0 tiles and a partial one of 112, one
  // full level-1 tile and a partial one of 17, and a partial level-2 tile of 1.
  const std::vector<TileId> tiles = all_tiles(70000);
  REQUIRE(tiles.size() == 273 + 1 + 1 + 1 + 1);
  for (uint64_t i = 0; i < 273; ++i) CHECK(tiles[i] == TileId{0, i, 256});
  CHECK(tiles[273] == TileId{0, 273, 112});
  CHECK(tiles[274] == TileId{1, 0, 256});
  CHECK(tiles[275] == TileId{1, 1, 17});
  CHECK(tiles[276] == TileId{2, 0, 1});
  // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1"
  CHECK(all_tiles(256) == std::vector<TileId>{{0, 0, 256}, {1, 0, 1}});
  CHECK(all_tiles(0).empty());
  CHECK(all_tiles(1) == std::vector<TileId>{{0, 0, 1}});

  CHECK(tile_width_in_tree(0, 273, 70000) == 112);
  CHECK(tile_width_in_tree(0, 274, 70000) == 0);
  CHECK(tile_width_in_tree(2, 0, 70000) == 1);
  CHECK(tile_width_in_tree(3, 0, 70000) == 0);
  CHECK(tile_width_in_tree(7, 0, UINT64_MAX) == 255);
  CHECK_THROWS_MATCHES(tile_width_in_tree(8, 0, 1), Error, IsInvalidInput());
  CHECK(tile_in_tree(1, 1, 70000) == TileId{1, 1, 17});
  CHECK_THROWS_MATCHES(tile_in_tree(1, 2, 70000), Error, IsInvalidInput());

  // A level-L tile holds the subtrees of level 8L.
  const std::vector<NodeId> nodes = tile_nodes({1, 2, 3});
  CHECK(nodes == std::vector<NodeId>{{8, 512}, {8, 513}, {8, 514}});
  const TilePosition position = tile_position({8, 272}, 70000);
  CHECK(position.tile == TileId{1, 1, 17});
  CHECK(position.offset == 16);
  CHECK_THROWS_MATCHES(tile_position({8, 273}, 70000), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(tile_position({8, 273}, 273 * 256 + 255), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(tile_position({4, 0}, 70000), Error, IsInvalidInput());
}

TEST_CASE("roots computed from tiles equal the tree's root at every size", "[unit]") {
  const ReferenceTree tree(70000);
  std::vector<uint64_t> sizes;
  // Every size over two full level-0 tiles and a partial one, then the edges of larger trees.
  for (uint64_t size = 0; size <= 560; ++size) sizes.push_back(size);
  for (const uint64_t size : {767u, 768u, 769u, 1023u, 1024u, 1025u, 65535u, 65536u, 65537u, 65536u + 256u, 70000u}) {
    sizes.push_back(size);
  }
  CompactTree expected;  // the sizes ascend: the expected roots come from one streaming tree
  for (const uint64_t size : sizes) {
    INFO("size " << size);
    while (expected.size() < size) expected.append(tree.leaves[expected.size()]);
    std::map<std::pair<unsigned, uint64_t>, int> reads;
    const TileReader read = [&](const TileId& tile) {
      // Every tile asked for is one the tree has, at the width the tree has it.
      CHECK(tile.width == tile_width_in_tree(tile.level, tile.index, size));
      ++reads[{tile.level, tile.index}];
      return tree.tile(tile);
    };
    CHECK(root_from_tiles(size, read) == expected.root());
    for (const auto& [tile, count] : reads) CHECK(count == 1);
  }
  // Any perfect subtree, from its one tile.
  const TileReader read = [&](const TileId& tile) { return tree.tile(tile); };
  CHECK(subtree_hash_from_tiles({12, 3}, 70000, read) == root_of(std::span(tree.leaves).subspan(3 << 12, 1 << 12)));
  CHECK(subtree_hash_from_tiles({16, 0}, 70000, read) == tree.node({16, 0}));
  CHECK(subtree_hash_from_tiles({0, 69999}, 70000, read) == tree.leaves[69999]);
  CHECK_THROWS_MATCHES(subtree_hash_from_tiles({12, 17}, 70000, read), Error, IsInvalidInput());
  // A reader answering with the wrong width is refused, not read past.
  const TileReader short_reader = [&](const TileId& tile) {
    std::vector<Hash> hashes = tree.tile(tile);
    hashes.pop_back();
    return hashes;
  };
  CHECK_THROWS_MATCHES(root_from_tiles(300, short_reader), Error, IsInvalidInput());
}

TEST_CASE("hash tiles are their hashes concatenated", "[unit]") {
  const ReferenceTree tree(300);
  const std::vector<Hash> hashes = tree.tile({0, 1, 44});
  const std::string data = format_hash_tile(hashes);
  REQUIRE(data.size() == 44 * 32);
  CHECK(data.substr(32, 32) == std::string(hashes[1].begin(), hashes[1].end()));
  const std::vector<uint8_t> bytes(data.begin(), data.end());
  CHECK(parse_hash_tile(bytes, {0, 1, 44}) == hashes);
  CHECK_THROWS_MATCHES(parse_hash_tile(bytes, {0, 1, 45}), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(parse_hash_tile(std::span(bytes).subspan(1), {0, 1, 44}), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(format_hash_tile({}), Error, IsInvalidInput());
}

TEST_CASE("entry bundles length-prefix entries with 16 bits and refuse larger entries", "[unit]") {
  const std::vector<std::string> entries = {"", "a", std::string(300, 'b'), std::string(65535, 'c')};
  const std::string bundle = format_entry_bundle(entries, 512);
  REQUIRE(bundle.size() == 2 + 0 + 2 + 1 + 2 + 300 + 2 + 65535);
  CHECK(bundle.substr(0, 5) == std::string("\x00\x00\x00\x01" "a", 5));
  CHECK(bundle.substr(5, 2) == "\x01\x2c");  // 300, big-endian
  CHECK(parse_entry_bundle(bundle, 4) == entries);
  CHECK_THROWS_MATCHES(parse_entry_bundle(bundle, 5), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(parse_entry_bundle(bundle, 3), Error, IsInvalidInput());  // bytes left over
  CHECK_THROWS_MATCHES(parse_entry_bundle(bundle.substr(0, bundle.size() - 1), 4), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(parse_entry_bundle(std::string("\x00", 1), 1), Error, IsInvalidInput());

  const std::vector<std::string> too_large = {"x", std::string(65536, 'd')};
  try {
    format_entry_bundle(too_large, 512);
    FAIL("an entry of 65,536 bytes was bundled");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::invalid_input);
    CHECK_THAT(e.what(), Catch::Contains("entry 513 is 65536 bytes") && Catch::Contains("65,535"));
  }

  std::vector<Hash> tile;
  for (const std::string& entry : entries) tile.push_back(leaf_hash(entry));
  CHECK_NOTHROW(check_entry_bundle(entries, tile));
  tile[2][0] ^= 1;
  try {
    check_entry_bundle(entries, tile, 512);
    FAIL("a changed leaf hash was accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::mismatch);
    CHECK_THAT(e.what(), Catch::Contains("entry 514"));
  }
  CHECK_THROWS_MATCHES(check_entry_bundle(entries, std::span(tile).subspan(1)), Error, IsInvalidInput());
}
