// Start-up verification of a stored log: the stored tree must be exactly what the log signed.
#pragma once

#include <string>

#include "audit/merkle.h"
#include "audit/verifier_key.h"
#include "keyservice/log/log_storage.h"

namespace escrowless::keyservice {

struct CheckedTree {
  audit::CompactTree tree;  // the compact range of every stored leaf
  bool unsigned_tail = false;  // the newest checkpoint is stored but not yet signed
};

// Checks, naming the first difference in an Error(integrity):
//  - leaves are contiguous and as many as the newest checkpoint's size;
//  - with `all_leaves`, every leaf hash matches its data and every stored subtree matches the
//    recomputed tree (`nodes` is a second connection to the same store, for those lookups);
//    otherwise, the subtrees on the right edge (the compact range) are read as stored;
//  - the recomputed root is the newest checkpoint's root, and its body is exactly the
//    checkpoint text of that size and root for `origin`;
//  - every signed checkpoint verifies under `verifier` and matches the stored tree at its size
//    (so no earlier signed checkpoint is inconsistent with the tree that will be extended).
CheckedTree check_stored_tree(LogStorage& leaves, LogStorage& nodes, const std::string& origin,
                              const audit::VerifierKey& verifier, bool all_leaves);

}  // namespace escrowless::keyservice
