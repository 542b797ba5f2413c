#include "audit/merkle.h"

#include <bit>
#include <string>

#include "audit/error.h"

namespace escrowless::audit {

Hash root_of(std::span<const Hash> leaf_hashes) {
  // Streaming keeps memory at O(log n) for the auditor's million-entry re-hash, and the
  // compact-range fold is exactly RFC 6962's split at the largest power of two below n.
  CompactTree tree;
  for (const Hash& leaf : leaf_hashes) tree.append(leaf);
  return tree.root();
}

Hash fold_subtrees(std::span<const Hash> left_to_right) {
  if (left_to_right.empty()) throw invalid_input("fold_subtrees: no subtree hashes");
  Hash acc = left_to_right.back();
  for (std::size_t i = left_to_right.size() - 1; i-- > 0;) acc = node_hash(left_to_right[i], acc);
  return acc;
}

CompactTree CompactTree::from_nodes(uint64_t size, std::span<const Hash> nodes) {
  const auto expected = static_cast<std::size_t>(std::popcount(size));
  if (nodes.size() != expected) {
    throw invalid_input("compact tree of size " + std::to_string(size) + " needs " +
                        std::to_string(expected) + " node hashes, got " +
                        std::to_string(nodes.size()));
  }
  return CompactTree(size, std::vector<Hash>(nodes.begin(), nodes.end()));
}

void CompactTree::append(const Hash& leaf_hash) { append(leaf_hash, nullptr); }

void CompactTree::append(const Hash& leaf_hash, const NodeVisitor& visit) {
  if (size_ == UINT64_MAX) throw invalid_input("compact tree is full");
  // Each trailing one bit of size_ is a perfect subtree the new leaf completes a parent with,
  // exactly like carrying in binary addition.
  Hash carry = leaf_hash;
  uint64_t index = size_;  // horizontal index of `carry` at the current level
  unsigned level = 0;
  if (visit) visit(NodeId{level, index}, carry);
  for (uint64_t s = size_; (s & 1) != 0; s >>= 1) {
    carry = node_hash(nodes_.back(), carry);
    nodes_.pop_back();
    ++level;
    index >>= 1;
    if (visit) visit(NodeId{level, index}, carry);
  }
  nodes_.push_back(carry);
  ++size_;
}

Hash CompactTree::root() const {
  if (nodes_.empty()) return empty_root();
  return fold_subtrees(nodes_);
}

std::vector<NodeId> CompactTree::node_ids() const {
  std::vector<NodeId> ids;
  ids.reserve(nodes_.size());
  uint64_t begin = 0;
  for (unsigned level = 64; level-- > 0;) {
    if (((size_ >> level) & 1) != 0) {
      ids.push_back(NodeId{level, begin >> level});
      begin += uint64_t{1} << level;
    }
  }
  return ids;
}

}  // namespace escrowless::audit
