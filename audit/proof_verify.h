// Verification of RFC 9162 inclusion (2.1.3.2) and consistency (2.1.4.2) proofs: pure
// functions over hashes the caller already has.
//
// Errors: malformed input (index >= size, size1 == 0 or size1 > size2, a proof with too many
// or too few hashes) throws Error(invalid_input); a well-formed proof that does not lead to the
// given root throws Error(mismatch) whose message names the expected and the computed root.
#pragma once

#include <cstdint>
#include <span>

#include "audit/hash.h"

namespace escrowless::audit {

// The root that `proof` implies for leaf `index` with hash `leaf_hash` in a tree of `size`.
// Requires index < size and proof.size() == inclusion_proof_length(index, size).
Hash root_from_inclusion_proof(uint64_t index, uint64_t size, const Hash& leaf_hash,
                               std::span<const Hash> proof);

// Checks that leaf `index` with hash `leaf_hash` is in the tree of `size` leaves with `root`.
// Same preconditions; returns normally on success.
void verify_inclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                      std::span<const Hash> proof, const Hash& root);

// The root of the size2 tree that `proof` implies, after checking that it also reproduces
// `root1` for the size1 tree (mismatch otherwise).
// Requires 0 < size1 <= size2 and proof.size() == consistency_proof_length(size1, size2)
// (so an empty proof exactly when size1 == size2).
Hash root_from_consistency_proof(uint64_t size1, uint64_t size2, const Hash& root1,
                                 std::span<const Hash> proof);

// Checks that the tree of size2 leaves with root2 extends the tree of size1 leaves with root1.
// Same preconditions. A consistency proof from the empty tree is meaningless (every tree extends
// it), so size1 == 0 is rejected as invalid_input, as transparency-dev/merkle does; a caller
// that starts from nothing checks the size2 root by other means (a signed checkpoint).
void verify_consistency(uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
                        std::span<const Hash> proof);

}  // namespace escrowless::audit
