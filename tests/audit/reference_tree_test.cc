// Cross-checks the library against a naive tree written straight from the RFC 6962 section
// 2.1 definitions of MTH, PATH and PROOF (SUBPROOF), for every tree size up to 300: roots,
// every inclusion proof, every consistency proof, and the server's way of building each proof
// from shapes and stored perfect subtree hashes.
#include <catch2/catch.hpp>

#include <optional>

#include "audit/merkle.h"
#include "audit/proof_shape.h"
#include "audit/proof_verify.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;

namespace {

constexpr uint64_t kMaxSize = 300;

// Hashes built from sha256() alone (checked against FIPS vectors elsewhere), so the reference
// does not share leaf_hash/node_hash with the code under test.
Hash ref_leaf(uint64_t i) {
  std::vector<uint8_t> input = {0x00};
  const std::string entry = "entry " + std::to_string(i);
  input.insert(input.end(), entry.begin(), entry.end());
  return sha256(input);
}

Hash ref_node(const Hash& left, const Hash& right) {
  std::vector<uint8_t> input = {0x01};
  input.insert(input.end(), left.begin(), left.end());
  input.insert(input.end(), right.begin(), right.end());
  return sha256(input);
}

uint64_t largest_power_of_two_below(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

class ReferenceTree {
 public:
  explicit ReferenceTree(uint64_t size) : size_(size), memo_((size + 1) * (size + 1)) {
    for (uint64_t i = 0; i < size; ++i) leaves_.push_back(ref_leaf(i));
  }

  const std::vector<Hash>& leaves() const { return leaves_; }

  // MTH(D[begin:end]), memoised: the O(n^2) proof sweep asks for the same subtrees many times.
  Hash mth(uint64_t begin, uint64_t end) {
    const uint64_t n = end - begin;
    if (n == 0) return sha256(std::vector<uint8_t>{});
    if (n == 1) return leaves_[begin];
    std::optional<Hash>& slot = memo_[begin * (size_ + 1) + end];
    if (!slot) {
      const uint64_t k = largest_power_of_two_below(n);
      slot = ref_node(mth(begin, begin + k), mth(begin + k, end));
    }
    return *slot;
  }

  // PATH(m, D[begin:end]), m relative to begin. The RFC's "PATH(...) : MTH(...)" becomes
  // "recurse, then append", so one output vector serves the whole recursion.
  void path(uint64_t m, uint64_t begin, uint64_t end, std::vector<Hash>& out) {
    const uint64_t n = end - begin;
    if (n == 1) return;
    const uint64_t k = largest_power_of_two_below(n);
    if (m < k) {
      path(m, begin, begin + k, out);
      out.push_back(mth(begin + k, end));
    } else {
      path(m - k, begin + k, end, out);
      out.push_back(mth(begin, begin + k));
    }
  }

  // SUBPROOF(m, D[begin:end], b), m relative to begin.
  void subproof(uint64_t m, uint64_t begin, uint64_t end, bool b, std::vector<Hash>& out) {
    const uint64_t n = end - begin;
    if (m == n) {
      if (!b) out.push_back(mth(begin, end));
      return;
    }
    const uint64_t k = largest_power_of_two_below(n);
    if (m <= k) {
      subproof(m, begin, begin + k, b, out);
      out.push_back(mth(begin + k, end));
    } else {
      subproof(m - k, begin + k, end, false, out);
      out.push_back(mth(begin, begin + k));
    }
  }

  std::vector<Hash> path(uint64_t m, uint64_t n) {
    std::vector<Hash> out;
    path(m, 0, n, out);
    return out;
  }

  std::vector<Hash> proof(uint64_t m, uint64_t n) {
    std::vector<Hash> out;
    subproof(m, 0, n, true, out);
    return out;
  }

 private:
  uint64_t size_;
  std::vector<Hash> leaves_;
  std::vector<std::optional<Hash>> memo_;
};

// Perfect subtree hashes as the sequencer stores them (from CompactTree's visitor).
class PerfectStore {
 public:
  void put(const NodeId& id, const Hash& hash) {
    if (levels_.size() <= id.level) levels_.resize(id.level + 1);
    auto& level = levels_[id.level];
    if (level.size() != id.index) FAIL("node " << to_string(id) << " out of order");  // each once, left to right
    level.push_back(hash);
  }
  // A proof built the server's way: shape, then perfect subtrees, then fold.
  std::vector<Hash> proof(const std::vector<LeafRange>& shape) const {
    std::vector<Hash> out;
    out.reserve(shape.size());
    std::vector<Hash> parts;
    for (const LeafRange& range : shape) {
      parts.clear();
      for (const NodeId& id : perfect_subtrees(range)) parts.push_back(levels_.at(id.level).at(id.index));
      out.push_back(fold_subtrees(parts));
    }
    return out;
  }

 private:
  std::vector<std::vector<Hash>> levels_;
};

}  // namespace

TEST_CASE("reference tree: roots, inclusion and consistency for all sizes 1..300", "[unit]") {
  ReferenceTree ref(kMaxSize);
  PerfectStore store;
  CompactTree compact;
  std::vector<Hash> roots = {ref.mth(0, 0)};
  for (uint64_t n = 1; n <= kMaxSize; ++n) {
    compact.append(ref.leaves()[n - 1], [&](const NodeId& id, const Hash& h) { store.put(id, h); });
    roots.push_back(ref.mth(0, n));
    REQUIRE(compact.root() == roots[n]);
  }
  CHECK(root_of(ref.leaves()) == roots[kMaxSize]);
  CHECK(root_of(std::span(ref.leaves()).first(137)) == roots[137]);
  CHECK(roots[0] == empty_root());

  std::size_t inclusion_checked = 0;
  std::size_t consistency_checked = 0;
  for (uint64_t n = 1; n <= kMaxSize; ++n) {
    for (uint64_t m = 0; m < n; ++m) {
      // Plain comparisons with FAIL on the first difference: 90,000 Catch assertions would
      // cost more than the hashing itself.
      const std::vector<Hash> proof = ref.path(m, n);
      if (inclusion_proof_length(m, n) != proof.size()) FAIL("inclusion length, m=" << m << " n=" << n);
      if (store.proof(inclusion_proof_shape(m, n)) != proof) FAIL("inclusion shape, m=" << m << " n=" << n);
      if (root_from_inclusion_proof(m, n, ref.leaves()[m], proof) != roots[n]) {
        FAIL("inclusion root, m=" << m << " n=" << n);
      }
      ++inclusion_checked;
    }
    for (uint64_t m = 1; m <= n; ++m) {
      const std::vector<Hash> proof = ref.proof(m, n);
      if (consistency_proof_length(m, n) != proof.size()) FAIL("consistency length, m=" << m << " n=" << n);
      if (store.proof(consistency_proof_shape(m, n)) != proof) FAIL("consistency shape, m=" << m << " n=" << n);
      if (root_from_consistency_proof(m, n, roots[m], proof) != roots[n]) {
        FAIL("consistency root, m=" << m << " n=" << n);
      }
      ++consistency_checked;
    }
  }
  CHECK(inclusion_checked == kMaxSize * (kMaxSize + 1) / 2);
  CHECK(consistency_checked == kMaxSize * (kMaxSize + 1) / 2);
}

TEST_CASE("reference tree: every mutated proof up to size 40 is rejected", "[unit]") {
  constexpr uint64_t kSize = 40;
  ReferenceTree ref(kSize);
  const auto flip = [](std::vector<Hash> proof, std::size_t i) {
    proof[i][i % kHashSize] ^= 0x01;
    return proof;
  };
  const Hash other = ref_leaf(1000);
  for (uint64_t n = 1; n <= kSize; ++n) {
    const Hash root = ref.mth(0, n);
    for (uint64_t m = 0; m < n; ++m) {
      const Hash leaf = ref.leaves()[m];
      const std::vector<Hash> proof = ref.path(m, n);
      REQUIRE_NOTHROW(verify_inclusion(m, n, leaf, proof, root));
      for (std::size_t i = 0; i < proof.size(); ++i) {
        REQUIRE_THROWS_MATCHES(verify_inclusion(m, n, leaf, flip(proof, i), root), Error,
                               test::IsMismatch());
      }
      REQUIRE_THROWS_MATCHES(verify_inclusion(m, n, other, proof, root), Error, test::IsMismatch());
      std::vector<Hash> longer = proof;
      longer.push_back(root);
      REQUIRE_THROWS_MATCHES(verify_inclusion(m, n, leaf, longer, root), Error,
                             test::IsInvalidInput());
      if (!proof.empty()) {
        const std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
        REQUIRE_THROWS_MATCHES(verify_inclusion(m, n, leaf, shorter, root), Error,
                               test::IsInvalidInput());
      }
    }
    for (uint64_t m = 1; m < n; ++m) {
      const Hash root1 = ref.mth(0, m);
      const std::vector<Hash> proof = ref.proof(m, n);
      REQUIRE_NOTHROW(verify_consistency(m, n, root1, root, proof));
      for (std::size_t i = 0; i < proof.size(); ++i) {
        REQUIRE_THROWS_MATCHES(verify_consistency(m, n, root1, root, flip(proof, i)), Error,
                               test::IsMismatch());
      }
      REQUIRE_THROWS_MATCHES(verify_consistency(m, n, other, root, proof), Error,
                             test::IsMismatch());
      REQUIRE_THROWS_MATCHES(verify_consistency(m, n, root1, other, proof), Error,
                             test::IsMismatch());
      std::vector<Hash> longer = proof;
      longer.push_back(root);
      REQUIRE_THROWS_MATCHES(verify_consistency(m, n, root1, root, longer), Error,
                             test::IsInvalidInput());
      const std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
      REQUIRE_THROWS_MATCHES(verify_consistency(m, n, root1, root, shorter), Error,
                             test::IsInvalidInput());
    }
  }
}
