// RFC 6962 Merkle tree hash (MTH) of a list of leaf hashes, and a streaming builder that keeps
// only the O(log n) perfect subtrees covering the leaves appended so far (a "compact range"
// starting at leaf 0). The server's sequencer and the auditor both build trees with it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "audit/hash.h"
#include "audit/tree_coords.h"

namespace escrowless::audit {

// MTH(D[n]) of RFC 6962 2.1 over already-hashed leaves; empty_root() for an empty list.
Hash root_of(std::span<const Hash> leaf_hashes);

// Hash of a leaf range given the hashes of its perfect-subtree decomposition, left to right
// (as perfect_subtrees() in proof_shape.h returns them): folded right to left with node_hash.
// Requires a non-empty list; throws invalid_input otherwise.
Hash fold_subtrees(std::span<const Hash> left_to_right);

// Appends leaf hashes one at a time; root() at any size. Memory: one hash per set bit of size().
class CompactTree {
 public:
  // Called for every perfect subtree that an append completes, lowest level first: the new leaf
  // itself (level 0), then each parent it finishes. The sequencer stores exactly these.
  using NodeVisitor = std::function<void(const NodeId& node, const Hash& hash)>;

  CompactTree() = default;

  // Resumes from stored state: `nodes` are the perfect subtree hashes covering [0, size), left
  // to right (largest first), one per set bit of `size`, as nodes() returns them.
  // Throws invalid_input if the count does not match.
  static CompactTree from_nodes(uint64_t size, std::span<const Hash> nodes);

  void append(const Hash& leaf_hash);
  void append(const Hash& leaf_hash, const NodeVisitor& visit);

  uint64_t size() const noexcept { return size_; }

  // MTH of the leaves appended so far; empty_root() when size() is 0.
  Hash root() const;

  // The covering perfect subtrees, left to right (largest first).
  const std::vector<Hash>& nodes() const noexcept { return nodes_; }

  // Their ids, in the same order as nodes().
  std::vector<NodeId> node_ids() const;

 private:
  CompactTree(uint64_t size, std::vector<Hash> nodes) : size_(size), nodes_(std::move(nodes)) {}

  uint64_t size_ = 0;
  std::vector<Hash> nodes_;
};

}  // namespace escrowless::audit
