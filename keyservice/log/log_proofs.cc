#include "keyservice/log/log_proofs.h"

#include "audit/error.h"
#include "audit/merkle.h"
#include "audit/proof_shape.h"
#include "keyservice/error.h"

namespace escrowless::keyservice {
namespace {

// The hash of every range, each from its perfect subtrees, with one storage call for all.
std::vector<audit::Hash> range_hashes(LogStorage& storage, const std::vector<audit::LeafRange>& ranges) {
  std::vector<audit::NodeId> nodes;
  std::vector<std::size_t> counts;
  for (const audit::LeafRange& range : ranges) {
    const auto parts = audit::perfect_subtrees(range);
    counts.push_back(parts.size());
    nodes.insert(nodes.end(), parts.begin(), parts.end());
  }
  const std::vector<audit::Hash> stored = storage.node_hashes(nodes);
  std::vector<audit::Hash> hashes;
  hashes.reserve(ranges.size());
  std::size_t at = 0;
  for (const std::size_t count : counts) {
    hashes.push_back(count == 1 ? stored[at]
                                : audit::fold_subtrees(std::span(stored).subspan(at, count)));
    at += count;
  }
  return hashes;
}

template <class F>
auto as_invalid_input(F f) {
  try {
    return f();
  } catch (const audit::Error& e) {
    throw Error(ErrorKind::invalid_input, e.what());
  }
}

}  // namespace

std::vector<audit::Hash> inclusion_proof(LogStorage& storage, std::uint64_t index, std::uint64_t size) {
  if (size > storage.leaf_count()) {
    throw Error(ErrorKind::invalid_input, "tree size " + std::to_string(size) + " is beyond the log");
  }
  const auto shape = as_invalid_input([&] { return audit::inclusion_proof_shape(index, size); });
  return range_hashes(storage, shape);
}

std::vector<audit::Hash> consistency_proof(LogStorage& storage, std::uint64_t from, std::uint64_t to) {
  if (to > storage.leaf_count()) {
    throw Error(ErrorKind::invalid_input, "tree size " + std::to_string(to) + " is beyond the log");
  }
  const auto shape = as_invalid_input([&] { return audit::consistency_proof_shape(from, to); });
  return range_hashes(storage, shape);
}

audit::Hash root_at(LogStorage& storage, std::uint64_t size) {
  if (size == 0) return audit::empty_root();
  return range_hashes(storage, {audit::LeafRange{0, size}}).front();
}

}  // namespace escrowless::keyservice
