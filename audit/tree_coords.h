// Coordinates in an RFC 6962 tree: leaf ranges and perfect (power-of-two aligned) subtrees.
// Pure values, no hashing, shared by the tree math, the builder and the server's storage.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace escrowless::audit {

// The leaves [begin, end) of a tree.
struct LeafRange {
  uint64_t begin = 0;
  uint64_t end = 0;

  uint64_t size() const noexcept { return end - begin; }
  friend bool operator==(const LeafRange&, const LeafRange&) = default;
};

// The perfect subtree at `level` (covering 2^level leaves) and horizontal `index`: leaves
// [index * 2^level, (index + 1) * 2^level). Level 0 nodes are the leaves themselves. This is the
// key under which the server stores a subtree hash.
struct NodeId {
  unsigned level = 0;  // 0..63; range() requires the node to end at or below 2^64 - 1
  uint64_t index = 0;

  LeafRange range() const noexcept {
    return {index << level, (index + 1) << level};
  }
  friend auto operator<=>(const NodeId&, const NodeId&) = default;
};

std::string to_string(const LeafRange& range);
std::string to_string(const NodeId& node);

}  // namespace escrowless::audit
