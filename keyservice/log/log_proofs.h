// Proofs and roots assembled from stored subtree hashes: audit/proof_shape.h says which subtrees,
// the storage reads them (O(log n) rows), fold_subtrees() combines the imperfect ones.
#pragma once

#include <cstdint>
#include <vector>

#include "audit/hash.h"
#include "keyservice/log/log_storage.h"

namespace escrowless::keyservice {

// Requires index < size <= leaf_count(); throws Error(invalid_input) otherwise.
std::vector<audit::Hash> inclusion_proof(LogStorage& storage, std::uint64_t index, std::uint64_t size);

// Requires 0 < from <= to <= leaf_count(); throws Error(invalid_input) otherwise.
std::vector<audit::Hash> consistency_proof(LogStorage& storage, std::uint64_t from, std::uint64_t to);

// MTH of the first `size` leaves (size <= leaf_count()).
audit::Hash root_at(LogStorage& storage, std::uint64_t size);

}  // namespace escrowless::keyservice
