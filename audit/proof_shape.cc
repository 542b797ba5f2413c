#include "audit/proof_shape.h"

#include <algorithm>
#include <bit>
#include <string>

#include "audit/error.h"

namespace escrowless::audit {
namespace {

// RFC 9162's k: the largest power of two strictly less than n. Requires n > 1.
uint64_t split_point(uint64_t n) { return std::bit_floor(n - 1); }

void check_inclusion_args(uint64_t index, uint64_t size) {
  if (index >= size) {
    throw invalid_input("inclusion proof: leaf index " + std::to_string(index) +
                        " is not below tree size " + std::to_string(size));
  }
}

void check_consistency_args(uint64_t size1, uint64_t size2) {
  if (size1 == 0) {
    throw invalid_input("consistency proof: size1 is 0 (every tree extends the empty tree; "
                        "there is nothing to prove)");
  }
  if (size1 > size2) {
    throw invalid_input("consistency proof: size1 " + std::to_string(size1) +
                        " is greater than size2 " + std::to_string(size2));
  }
}

// Walks PATH(m, D[begin:end]) from the root down, calling emit(sibling) for each level. The
// recursion in RFC 9162 appends the sibling after the deeper proof, so proof order is the
// reverse of the walk.
template <typename Emit>
void walk_inclusion(uint64_t index, uint64_t size, Emit&& emit) {
  uint64_t begin = 0;
  uint64_t end = size;
  while (end - begin > 1) {
    const uint64_t mid = begin + split_point(end - begin);
    if (index < mid) {
      emit(LeafRange{mid, end});
      end = mid;
    } else {
      emit(LeafRange{begin, mid});
      begin = mid;
    }
  }
}

// Walks SUBPROOF(m, D[begin:end], b) from the root down, the same way. m never leaves
// [begin, end]; when it reaches `end` the recursion bottoms out, contributing MTH(D[begin:end])
// unless b is still true (the subtree is the old tree itself, which the verifier already has).
template <typename Emit>
void walk_consistency(uint64_t size1, uint64_t size2, Emit&& emit) {
  uint64_t begin = 0;
  uint64_t end = size2;
  bool whole_old_tree = true;
  while (size1 != end) {
    const uint64_t mid = begin + split_point(end - begin);
    if (size1 <= mid) {
      emit(LeafRange{mid, end});
      end = mid;
    } else {
      emit(LeafRange{begin, mid});
      begin = mid;
      whole_old_tree = false;
    }
  }
  if (!whole_old_tree) emit(LeafRange{begin, end});
}

}  // namespace

std::vector<LeafRange> inclusion_proof_shape(uint64_t index, uint64_t size) {
  std::vector<LeafRange> out;
  out.reserve(inclusion_proof_length(index, size));  // also checks the arguments
  walk_inclusion(index, size, [&](const LeafRange& r) { out.push_back(r); });
  std::reverse(out.begin(), out.end());
  return out;
}

std::size_t inclusion_proof_length(uint64_t index, uint64_t size) {
  check_inclusion_args(index, size);
  std::size_t n = 0;
  walk_inclusion(index, size, [&](const LeafRange&) { ++n; });
  return n;
}

std::vector<LeafRange> consistency_proof_shape(uint64_t size1, uint64_t size2) {
  std::vector<LeafRange> out;
  out.reserve(consistency_proof_length(size1, size2));  // also checks the arguments
  walk_consistency(size1, size2, [&](const LeafRange& r) { out.push_back(r); });
  // The bottom-most subtree was emitted last by the walk but comes first in the proof.
  std::reverse(out.begin(), out.end());
  return out;
}

std::size_t consistency_proof_length(uint64_t size1, uint64_t size2) {
  check_consistency_args(size1, size2);
  std::size_t n = 0;
  walk_consistency(size1, size2, [&](const LeafRange&) { ++n; });
  return n;
}

std::vector<NodeId> perfect_subtrees(LeafRange range) {
  if (range.begin >= range.end) {
    throw invalid_input("perfect_subtrees: empty or inverted range " + to_string(range));
  }
  const uint64_t size = range.size();
  // bit_ceil would overflow above 2^63; a valid range that large can only start at 0.
  const bool aligned =
      range.begin == 0 || (size <= (uint64_t{1} << 63) && range.begin % std::bit_ceil(size) == 0);
  if (!aligned) {
    throw invalid_input("perfect_subtrees: range " + to_string(range) +
                        " is not a subtree of an RFC 6962 tree (begin not aligned to its size)");
  }
  // MTH splits at the largest power of two below the size, and `begin` is aligned to it, so
  // the decomposition is the binary expansion of the size, largest part first.
  std::vector<NodeId> out;
  out.reserve(static_cast<std::size_t>(std::popcount(size)));
  uint64_t begin = range.begin;
  for (unsigned level = 64; level-- > 0;) {
    if (((size >> level) & 1) != 0) {
      out.push_back(NodeId{level, begin >> level});
      begin += uint64_t{1} << level;
    }
  }
  return out;
}

}  // namespace escrowless::audit
