// Edge cases of proof verification that the vector sweeps do not name one by one.
#include "audit/proof_verify.h"

#include <catch2/catch.hpp>

#include "audit/merkle.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::IsInvalidInput;
using test::IsMismatch;

namespace {

std::vector<Hash> leaves(std::size_t n) {
  std::vector<Hash> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(leaf_hash("leaf " + std::to_string(i)));
  return out;
}

}  // namespace

TEST_CASE("inclusion: a one-leaf tree needs an empty proof and the leaf as root", "[unit]") {
  const Hash leaf = leaf_hash(std::string_view("only"));
  CHECK_NOTHROW(verify_inclusion(0, 1, leaf, {}, leaf));
  REQUIRE_THROWS_MATCHES(verify_inclusion(0, 1, leaf, {}, empty_root()), Error, IsMismatch());
  REQUIRE_THROWS_MATCHES(verify_inclusion(0, 1, leaf, std::vector<Hash>{leaf}, leaf), Error,
                         IsInvalidInput());
}

TEST_CASE("inclusion: index >= size and empty trees are invalid input", "[unit]") {
  const Hash leaf = leaf_hash(std::string_view("x"));
  REQUIRE_THROWS_MATCHES(verify_inclusion(0, 0, leaf, {}, empty_root()), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(verify_inclusion(1, 1, leaf, {}, leaf), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(verify_inclusion(UINT64_MAX, UINT64_MAX, leaf, {}, leaf), Error,
                         IsInvalidInput());
  REQUIRE_THROWS_MATCHES(root_from_inclusion_proof(5, 3, leaf, {}), Error, IsInvalidInput());
}

TEST_CASE("inclusion: a root mismatch names both roots", "[unit]") {
  const auto l = leaves(5);
  CompactTree tree;
  for (const Hash& h : l) tree.append(h);
  const std::vector<Hash> proof = {l[0], node_hash(l[2], l[3]), l[4]};
  CHECK_NOTHROW(verify_inclusion(1, 5, l[1], proof, tree.root()));
  const Hash wrong = leaf_hash(std::string_view("wrong root"));
  try {
    verify_inclusion(1, 5, l[1], proof, wrong);
    FAIL("expected a mismatch");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::mismatch);
    const std::string message = e.what();
    CHECK(message.find(to_hex(wrong)) != std::string::npos);
    CHECK(message.find(to_hex(tree.root())) != std::string::npos);
  }
}

TEST_CASE("consistency: equal sizes need an empty proof and equal roots", "[unit]") {
  const auto l = leaves(3);
  const Hash root = root_of(l);
  CHECK_NOTHROW(verify_consistency(3, 3, root, root, {}));
  CHECK(root_from_consistency_proof(3, 3, root, {}) == root);
  REQUIRE_THROWS_MATCHES(verify_consistency(3, 3, root, empty_root(), {}), Error, IsMismatch());
  REQUIRE_THROWS_MATCHES(verify_consistency(3, 3, root, root, std::vector<Hash>{root}), Error,
                         IsInvalidInput());
}

TEST_CASE("consistency: size1 of 0 or above size2 is invalid input", "[unit]") {
  const Hash root = root_of(leaves(2));
  REQUIRE_THROWS_MATCHES(verify_consistency(0, 0, empty_root(), empty_root(), {}), Error,
                         IsInvalidInput());
  REQUIRE_THROWS_MATCHES(verify_consistency(0, 2, empty_root(), root, {}), Error,
                         IsInvalidInput());
  REQUIRE_THROWS_MATCHES(verify_consistency(3, 2, root, root, {}), Error, IsInvalidInput());
}

TEST_CASE("consistency: empty proof for different sizes is invalid input", "[unit]") {
  const auto l = leaves(4);
  REQUIRE_THROWS_MATCHES(verify_consistency(2, 4, root_of(std::span(l).first(2)), root_of(l), {}),
                         Error, IsInvalidInput());
}

TEST_CASE("consistency: wrong old root and wrong new root are mismatches naming both", "[unit]") {
  const auto l = leaves(7);
  const Hash root3 = root_of(std::span(l).first(3));
  const Hash root7 = root_of(l);
  // SUBPROOF(3, D[7]): [2,3), [3,4), [0,2), [4,7).
  const std::vector<Hash> proof = {l[2], l[3], node_hash(l[0], l[1]),
                                   root_of(std::span(l).subspan(4))};
  CHECK_NOTHROW(verify_consistency(3, 7, root3, root7, proof));
  const Hash wrong = leaf_hash(std::string_view("wrong"));
  for (const bool old_side : {true, false}) {
    try {
      verify_consistency(3, 7, old_side ? wrong : root3, old_side ? root7 : wrong, proof);
      FAIL("expected a mismatch");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::mismatch);
      const std::string message = e.what();
      CHECK(message.find(to_hex(wrong)) != std::string::npos);
      CHECK(message.find(to_hex(old_side ? root3 : root7)) != std::string::npos);
    }
  }
}
