// Proof verification (audit/proof_verify.h) with arbitrary proofs, indices and sizes.
//
// Two input forms:
// - a JSON probe as in tests/data/merkle (transparency-dev/merkle's format: leafIdx, treeSize,
//   root, leafHash, proof for inclusion; size1, size2, root1, root2, proof for consistency), run
//   as given: only invalid_input or mismatch may come out, and a proof of the wrong length is
//   invalid_input;
// - anything else is read as bytes: either arbitrary index, sizes, hashes and proof (only
//   invalid_input or mismatch may come out), or bytes choosing a tree (up to 300 leaves), a leaf or a second size,
//   and a bit to flip: the real proof (built from the tree by audit/proof_shape.h) must verify,
//   and with one bit flipped in the leaf, a root or a proof hash it must not.
#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <vector>

#include "audit/encoding.h"
#include "audit/hash.h"
#include "audit/merkle.h"
#include "audit/proof_shape.h"
#include "audit/proof_verify.h"
#include "tests/fuzz/fuzz_support.h"

using namespace escrowless;

namespace {

std::optional<audit::Hash> hash_of(const nlohmann::json& value) {
  if (!value.is_string()) return std::nullopt;
  try {
    const std::vector<uint8_t> bytes = audit::base64_decode(value.get<std::string>());
    if (bytes.size() != audit::kHashSize) return std::nullopt;
    return audit::hash_from_bytes(bytes);
  } catch (const audit::Error&) {
    return std::nullopt;
  }
}

std::optional<std::vector<audit::Hash>> proof_of(const nlohmann::json& value) {
  std::vector<audit::Hash> proof;
  if (value.is_null()) return proof;
  if (!value.is_array()) return std::nullopt;
  for (const auto& item : value) {
    const auto hash = hash_of(item);
    if (!hash) return std::nullopt;
    proof.push_back(*hash);
  }
  return proof;
}

std::optional<uint64_t> size_of(const nlohmann::json& value) {
  if (!value.is_number_unsigned()) return std::nullopt;
  return value.get<uint64_t>();
}

// Runs `verify`; a proof of the wrong length must be refused as invalid_input.
template <typename Verify>
void expect_refusal_kinds(Verify verify, bool wrong_shape) {
  try {
    verify();
    fuzz::require(!wrong_shape, "a proof of the wrong length never verifies");
  } catch (const audit::Error& e) {
    fuzz::require(e.kind() != audit::ErrorKind::internal, "verification errors are invalid_input or mismatch");
    if (wrong_shape) fuzz::require_invalid_input(e);
  }
}

void run_probe(const nlohmann::json& probe) {
  if (!probe.is_object()) return;
  const auto proof = proof_of(probe.value("proof", nlohmann::json()));
  if (!proof) return;
  if (probe.contains("leafIdx")) {
    const auto index = size_of(probe["leafIdx"]);
    const auto size = size_of(probe.value("treeSize", nlohmann::json()));
    const auto root = hash_of(probe.value("root", nlohmann::json()));
    const auto leaf = hash_of(probe.value("leafHash", nlohmann::json()));
    if (!index || !size || !root || !leaf) return;
    const bool wrong_shape = *index >= *size || proof->size() != audit::inclusion_proof_length(*index, *size);
    expect_refusal_kinds([&] { audit::verify_inclusion(*index, *size, *leaf, *proof, *root); }, wrong_shape);
  } else {
    const auto size1 = size_of(probe.value("size1", nlohmann::json()));
    const auto size2 = size_of(probe.value("size2", nlohmann::json()));
    const auto root1 = hash_of(probe.value("root1", nlohmann::json()));
    const auto root2 = hash_of(probe.value("root2", nlohmann::json()));
    if (!size1 || !size2 || !root1 || !root2) return;
    const bool wrong_shape = *size1 == 0 || *size1 > *size2 ||
                             proof->size() != audit::consistency_proof_length(*size1, *size2);
    expect_refusal_kinds([&] { audit::verify_consistency(*size1, *size2, *root1, *root2, *proof); }, wrong_shape);
  }
}

std::vector<audit::Hash> proof_from_tree(const std::vector<audit::LeafRange>& shape,
                                         const std::vector<audit::Hash>& leaves) {
  std::vector<audit::Hash> proof;
  for (const audit::LeafRange& range : shape) {
    proof.push_back(audit::root_of(std::span(leaves).subspan(range.begin, range.size())));
  }
  return proof;
}

// Flips bit `bit` of one of the hashes: 0..255 the first, 256..511 the second, and so on.
void flip(std::vector<audit::Hash*> hashes, std::size_t bit) {
  bit %= hashes.size() * audit::kHashSize * 8;
  (*hashes[bit / 256])[(bit % 256) / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
}

void expect_mismatch(const auto& verify) {
  try {
    verify();
  } catch (const audit::Error& e) {
    fuzz::require(e.kind() == audit::ErrorKind::mismatch, "a flipped bit is a mismatch");
    return;
  }
  fuzz::fail("a proof with a flipped bit does not verify");
}

void run_tree(FuzzedDataProvider& input) {
  const uint64_t size = input.ConsumeIntegralInRange<uint64_t>(1, 300);
  const bool consistency = input.ConsumeBool();
  const uint64_t other = input.ConsumeIntegralInRange<uint64_t>(consistency ? 1 : 0, consistency ? size : size - 1);
  const std::size_t bit = input.ConsumeIntegral<std::size_t>();
  const uint8_t salt = input.ConsumeIntegral<uint8_t>();
  std::vector<audit::Hash> leaves;
  for (uint64_t i = 0; i < size; ++i) {
    const uint8_t bytes[] = {salt, static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8)};
    leaves.push_back(audit::leaf_hash(std::span<const uint8_t>(bytes)));
  }
  audit::Hash root = audit::root_of(leaves);
  if (!consistency) {
    audit::Hash leaf = leaves[other];
    std::vector<audit::Hash> proof = proof_from_tree(audit::inclusion_proof_shape(other, size), leaves);
    audit::verify_inclusion(other, size, leaf, proof, root);  // must not throw
    fuzz::require(audit::root_from_inclusion_proof(other, size, leaf, proof) == root, "the proof implies the root");
    std::vector<audit::Hash*> targets = {&leaf, &root};
    for (auto& hash : proof) targets.push_back(&hash);
    flip(targets, bit);
    expect_mismatch([&] { audit::verify_inclusion(other, size, leaf, proof, root); });
  } else {
    audit::Hash root1 = audit::root_of(std::span(leaves).first(other));
    std::vector<audit::Hash> proof = proof_from_tree(audit::consistency_proof_shape(other, size), leaves);
    audit::verify_consistency(other, size, root1, root, proof);  // must not throw
    std::vector<audit::Hash*> targets = {&root1, &root};
    for (auto& hash : proof) targets.push_back(&hash);
    flip(targets, bit);
    expect_mismatch([&] { audit::verify_consistency(other, size, root1, root, proof); });
  }
}

audit::Hash consume_hash(FuzzedDataProvider& input) {
  audit::Hash hash{};
  input.ConsumeData(hash.data(), hash.size());
  return hash;
}

// Any index, sizes and proof, as an attacker would send them to an auditor.
void run_arbitrary(FuzzedDataProvider& input) {
  const bool consistency = input.ConsumeBool();
  const uint64_t first = input.ConsumeIntegral<uint64_t>();
  const uint64_t second = input.ConsumeIntegral<uint64_t>();
  const audit::Hash a = consume_hash(input);
  const audit::Hash b = consume_hash(input);
  std::vector<audit::Hash> proof(input.ConsumeIntegralInRange<std::size_t>(0, 70));
  for (auto& hash : proof) hash = consume_hash(input);
  if (!consistency) {
    const bool wrong_shape = first >= second || proof.size() != audit::inclusion_proof_length(first, second);
    expect_refusal_kinds([&] { audit::verify_inclusion(first, second, a, proof, b); }, wrong_shape);
  } else {
    const bool wrong_shape =
        first == 0 || first > second || proof.size() != audit::consistency_proof_length(first, second);
    expect_refusal_kinds([&] { audit::verify_consistency(first, second, a, b, proof); }, wrong_shape);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size > 0 && data[0] == '{') {
    const nlohmann::json probe = nlohmann::json::parse(data, data + size, nullptr, false);
    if (!probe.is_discarded()) run_probe(probe);
    return 0;
  }
  FuzzedDataProvider input(data, size);
  if (input.ConsumeBool()) {
    run_tree(input);
  } else {
    run_arbitrary(input);
  }
  return 0;
}
