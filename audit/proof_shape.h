// Which subtrees make up a proof (RFC 9162 2.1.3.1 and 2.1.4.1), as pure tree math: no hashing
// and no storage. The server looks up the hashes; since it stores only perfect subtree hashes,
// each proof range is split further with perfect_subtrees() and folded with fold_subtrees().
// Every answer costs O(log n) work and, per range, O(log n) reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "audit/tree_coords.h"

namespace escrowless::audit {

// The ranges whose hashes form the inclusion proof (audit path) of leaf `index` in the tree of
// `size` leaves, in proof order (the leaf's sibling first, towards the root).
// Requires index < size; throws invalid_input otherwise.
std::vector<LeafRange> inclusion_proof_shape(uint64_t index, uint64_t size);

// Number of hashes in that proof, without allocating. Same precondition.
std::size_t inclusion_proof_length(uint64_t index, uint64_t size);

// The ranges whose hashes form the consistency proof from the tree of size1 leaves to the tree
// of size2 leaves, in proof order. Empty when size1 == size2.
// Requires 0 < size1 <= size2; throws invalid_input otherwise.
std::vector<LeafRange> consistency_proof_shape(uint64_t size1, uint64_t size2);

// Number of hashes in that proof, without allocating. Same precondition.
std::size_t consistency_proof_length(uint64_t size1, uint64_t size2);

// The aligned perfect subtrees, left to right (largest first), whose hashes folded right to
// left with node_hash (fold_subtrees() in merkle.h) give MTH of the leaves in `range`.
// Requires a non-empty range that is a subtree of an RFC 6962 tree, i.e. `begin` is a multiple
// of the smallest power of two >= end - begin (every range in a proof shape is); throws
// invalid_input otherwise, since any other range has a different tree shape.
std::vector<NodeId> perfect_subtrees(LeafRange range);

}  // namespace escrowless::audit
