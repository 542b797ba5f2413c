// The RFC 6962 8-leaf test tree's proofs (tests/data/rfc6962/tree8.json): our verifier accepts
// them, and our proof shapes, decomposed into stored perfect subtrees, produce them exactly.
#include <catch2/catch.hpp>

#include "audit/encoding.h"
#include "audit/merkle.h"
#include "audit/proof_shape.h"
#include "audit/proof_verify.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::hash_from_hex;
using test::hashes_from_hex;

namespace {

// The tree's perfect subtree hashes, as the server stores them.
struct StoredTree {
  nlohmann::json levels;

  Hash node(const NodeId& id) const {
    return hash_from_hex(levels.at(id.level).at(id.index).get<std::string>());
  }
  // The hash of a proof range, the way the server answers it.
  Hash range(const LeafRange& range) const {
    std::vector<Hash> parts;
    for (const NodeId& id : perfect_subtrees(range)) parts.push_back(node(id));
    return fold_subtrees(parts);
  }
  std::vector<Hash> proof(const std::vector<LeafRange>& shape) const {
    std::vector<Hash> out;
    for (const LeafRange& r : shape) out.push_back(range(r));
    return out;
  }
};

}  // namespace

TEST_CASE("RFC 6962 test tree inclusion proofs", "[vectors]") {
  const auto tree = test::load_json("rfc6962/tree8.json");
  const StoredTree stored{tree["node_hashes"]};
  const auto& roots = tree["roots_by_size"];
  for (const auto& vector : tree["inclusion_proofs"]) {
    const auto index = vector["index"].get<uint64_t>();
    const auto size = vector["size"].get<uint64_t>();
    INFO("index " << index << " size " << size);
    const std::vector<Hash> proof = hashes_from_hex(vector["proof"]);
    const Hash leaf = leaf_hash(hex_decode(tree["leaves"][index].get<std::string>()));
    const Hash root = hash_from_hex(roots[size].get<std::string>());
    CHECK_NOTHROW(verify_inclusion(index, size, leaf, proof, root));
    CHECK(root_from_inclusion_proof(index, size, leaf, proof) == root);
    CHECK(stored.proof(inclusion_proof_shape(index, size)) == proof);
  }
}

TEST_CASE("RFC 6962 test tree consistency proofs", "[vectors]") {
  const auto tree = test::load_json("rfc6962/tree8.json");
  const StoredTree stored{tree["node_hashes"]};
  const auto& roots = tree["roots_by_size"];
  for (const auto& vector : tree["consistency_proofs"]) {
    const auto size1 = vector["size1"].get<uint64_t>();
    const auto size2 = vector["size2"].get<uint64_t>();
    INFO("size1 " << size1 << " size2 " << size2);
    const std::vector<Hash> proof = hashes_from_hex(vector["proof"]);
    const Hash root1 = hash_from_hex(roots[size1].get<std::string>());
    const Hash root2 = hash_from_hex(roots[size2].get<std::string>());
    CHECK_NOTHROW(verify_consistency(size1, size2, root1, root2, proof));
    CHECK(root_from_consistency_proof(size1, size2, root1, proof) == root2);
    CHECK(stored.proof(consistency_proof_shape(size1, size2)) == proof);
  }
}
