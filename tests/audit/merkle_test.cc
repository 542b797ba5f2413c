#include "audit/merkle.h"

#include <catch2/catch.hpp>

#include <bit>
#include <map>

#include "audit/encoding.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::hash_from_hex;
using test::IsInvalidInput;

namespace {

std::vector<Hash> tree8_leaf_hashes() {
  const auto tree = test::load_json("rfc6962/tree8.json");
  std::vector<Hash> out;
  for (const auto& leaf : tree["leaves"]) out.push_back(leaf_hash(hex_decode(leaf.get<std::string>())));
  return out;
}

}  // namespace

TEST_CASE("root_of gives the RFC 6962 test tree roots for sizes 0 to 8", "[vectors]") {
  const auto tree = test::load_json("rfc6962/tree8.json");
  const std::vector<Hash> leaves = tree8_leaf_hashes();
  const auto& roots = tree["roots_by_size"];
  REQUIRE(roots.size() == 9);
  for (std::size_t size = 0; size <= 8; ++size) {
    INFO("size " << size);
    CHECK(to_hex(root_of(std::span(leaves).first(size))) == roots[size].get<std::string>());
  }
}

TEST_CASE("CompactTree gives the same roots while streaming", "[vectors]") {
  const auto tree = test::load_json("rfc6962/tree8.json");
  const auto& roots = tree["roots_by_size"];
  CompactTree compact;
  CHECK(compact.root() == empty_root());
  CHECK(compact.nodes().empty());
  for (const Hash& leaf : tree8_leaf_hashes()) {
    compact.append(leaf);
    INFO("size " << compact.size());
    CHECK(to_hex(compact.root()) == roots[compact.size()].get<std::string>());
    CHECK(compact.nodes().size() == static_cast<std::size_t>(std::popcount(compact.size())));
  }
}

TEST_CASE("CompactTree reports every perfect subtree it completes", "[vectors]") {
  const auto tree = test::load_json("rfc6962/tree8.json");
  const auto& levels = tree["node_hashes"];
  std::map<NodeId, Hash> seen;
  CompactTree compact;
  for (const Hash& leaf : tree8_leaf_hashes()) {
    compact.append(leaf, [&](const NodeId& node, const Hash& hash) {
      CHECK(seen.emplace(node, hash).second);  // each node exactly once
    });
  }
  std::size_t expected = 0;
  for (unsigned level = 0; level < levels.size(); ++level) {
    for (uint64_t index = 0; index < levels[level].size(); ++index) {
      INFO("level " << level << " index " << index);
      const auto it = seen.find(NodeId{level, index});
      REQUIRE(it != seen.end());
      CHECK(to_hex(it->second) == levels[level][index].get<std::string>());
      ++expected;
    }
  }
  CHECK(seen.size() == expected);
}

TEST_CASE("CompactTree resumes from its stored nodes", "[unit]") {
  const std::vector<Hash> leaves = tree8_leaf_hashes();
  CompactTree first;
  for (std::size_t i = 0; i < 7; ++i) first.append(leaves[i]);
  const std::vector<NodeId> ids = first.node_ids();
  REQUIRE(ids.size() == 3);
  CHECK(ids[0] == NodeId{2, 0});
  CHECK(ids[1] == NodeId{1, 2});
  CHECK(ids[2] == NodeId{0, 6});

  CompactTree resumed = CompactTree::from_nodes(first.size(), first.nodes());
  CHECK(resumed.root() == first.root());
  resumed.append(leaves[7]);
  CHECK(resumed.root() == root_of(leaves));
  CHECK(resumed.node_ids() == std::vector<NodeId>{NodeId{3, 0}});

  REQUIRE_THROWS_MATCHES(CompactTree::from_nodes(7, std::span(first.nodes()).first(2)), Error,
                         IsInvalidInput());
  REQUIRE_THROWS_MATCHES(CompactTree::from_nodes(0, first.nodes()), Error, IsInvalidInput());
  CHECK(CompactTree::from_nodes(0, {}).root() == empty_root());
}

TEST_CASE("fold_subtrees folds right to left and rejects an empty list", "[unit]") {
  const Hash a = hash_from_hex(std::string(64, 'a'));
  const Hash b = hash_from_hex(std::string(64, 'b'));
  const Hash c = hash_from_hex(std::string(64, 'c'));
  CHECK(fold_subtrees(std::vector<Hash>{a}) == a);
  CHECK(fold_subtrees(std::vector<Hash>{a, b, c}) == node_hash(a, node_hash(b, c)));
  REQUIRE_THROWS_MATCHES(fold_subtrees({}), Error, IsInvalidInput());
}
