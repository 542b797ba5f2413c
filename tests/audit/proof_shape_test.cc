#include "audit/proof_shape.h"

#include <catch2/catch.hpp>

#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::IsInvalidInput;

namespace {
using Ranges = std::vector<LeafRange>;
using Nodes = std::vector<NodeId>;
}  // namespace

TEST_CASE("inclusion proof shapes follow RFC 9162 PATH", "[unit]") {
  CHECK(inclusion_proof_shape(0, 1).empty());
  CHECK(inclusion_proof_shape(0, 8) == Ranges{{1, 2}, {2, 4}, {4, 8}});
  CHECK(inclusion_proof_shape(5, 8) == Ranges{{4, 5}, {6, 8}, {0, 4}});
  CHECK(inclusion_proof_shape(2, 3) == Ranges{{0, 2}});
  CHECK(inclusion_proof_shape(1, 5) == Ranges{{0, 1}, {2, 4}, {4, 5}});
  CHECK(inclusion_proof_shape(6, 7) == Ranges{{4, 6}, {0, 4}});
}

TEST_CASE("consistency proof shapes follow RFC 9162 SUBPROOF", "[unit]") {
  CHECK(consistency_proof_shape(1, 1).empty());
  CHECK(consistency_proof_shape(5, 5).empty());
  CHECK(consistency_proof_shape(1, 8) == Ranges{{1, 2}, {2, 4}, {4, 8}});
  CHECK(consistency_proof_shape(6, 8) == Ranges{{4, 6}, {6, 8}, {0, 4}});
  CHECK(consistency_proof_shape(2, 5) == Ranges{{2, 4}, {4, 5}});
  CHECK(consistency_proof_shape(6, 7) == Ranges{{4, 6}, {6, 7}, {0, 4}});
  CHECK(consistency_proof_shape(4, 8) == Ranges{{4, 8}});
  CHECK(consistency_proof_shape(3, 7) == Ranges{{2, 3}, {3, 4}, {0, 2}, {4, 7}});
}

TEST_CASE("proof shapes reject bad sizes", "[unit]") {
  REQUIRE_THROWS_MATCHES(inclusion_proof_shape(0, 0), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(inclusion_proof_shape(8, 8), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(inclusion_proof_length(UINT64_MAX, 1), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(consistency_proof_shape(0, 0), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(consistency_proof_shape(0, 5), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(consistency_proof_shape(6, 5), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(consistency_proof_length(2, 1), Error, IsInvalidInput());
}

TEST_CASE("proof shapes stay O(log n) at 64-bit sizes", "[unit]") {
  const uint64_t huge = UINT64_MAX;
  const Ranges path = inclusion_proof_shape(huge - 1, huge);
  CHECK(path.size() == inclusion_proof_length(huge - 1, huge));
  CHECK(path.size() <= 64);
  CHECK(path.back() == LeafRange{0, uint64_t{1} << 63});
  const Ranges consistency = consistency_proof_shape((uint64_t{1} << 40) + 3, huge);
  CHECK(consistency.size() == consistency_proof_length((uint64_t{1} << 40) + 3, huge));
  CHECK(consistency.size() <= 128);
  for (const LeafRange& range : consistency) CHECK_NOTHROW(perfect_subtrees(range));
  CHECK(inclusion_proof_length(0, uint64_t{1} << 63) == 63);
}

TEST_CASE("perfect_subtrees decomposes subtree ranges largest first", "[unit]") {
  CHECK(perfect_subtrees({0, 1}) == Nodes{{0, 0}});
  CHECK(perfect_subtrees({4, 8}) == Nodes{{2, 1}});
  CHECK(perfect_subtrees({0, 7}) == Nodes{{2, 0}, {1, 2}, {0, 6}});
  CHECK(perfect_subtrees({8, 13}) == Nodes{{2, 2}, {0, 12}});
  CHECK(perfect_subtrees({4, 7}) == Nodes{{1, 2}, {0, 6}});
  CHECK(perfect_subtrees({0, UINT64_MAX}).size() == 64);
  for (const NodeId& id : perfect_subtrees({256, 300})) {
    CHECK(id.range().begin >= 256);
    CHECK(id.range().end <= 300);
  }
}

TEST_CASE("perfect_subtrees rejects ranges that are not RFC 6962 subtrees", "[unit]") {
  REQUIRE_THROWS_MATCHES(perfect_subtrees({3, 3}), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(perfect_subtrees({5, 3}), Error, IsInvalidInput());
  // [1, 4) hashes as node(node(l1, l2), l3) under MTH, which no aligned split reproduces.
  REQUIRE_THROWS_MATCHES(perfect_subtrees({1, 4}), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(perfect_subtrees({2, 5}), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(perfect_subtrees({4, 9}), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(perfect_subtrees({1, UINT64_MAX}), Error, IsInvalidInput());
}
