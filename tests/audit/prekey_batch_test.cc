// One-time prekey batches: the leaf layout, roots against a naive reference, and the inclusion
// proof of every index of every batch size, with mutations that must fail.
#include "audit/prekey_batch.h"

#include <catch2/catch.hpp>

#include <string>

#include "audit/encoding.h"
#include "audit/merkle.h"
#include "audit/proof_shape.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::IsInvalidInput;
using test::IsMismatch;

namespace {

// Deterministic, distinct items; the signatures are not verified by batch code, so any 64
// bytes do.
std::vector<PrekeyBatchItem> make_batch(PrekeyKind kind, std::size_t count) {
  std::vector<PrekeyBatchItem> items;
  for (std::size_t i = 0; i < count; ++i) {
    PrekeyBatchItem item{kind, static_cast<uint32_t>(1000 + i),
                         std::vector<uint8_t>(prekey_size(kind)), std::vector<uint8_t>(64)};
    for (std::size_t j = 0; j < item.public_key.size(); ++j) {
      item.public_key[j] = static_cast<uint8_t>(i * 31 + j);
    }
    for (std::size_t j = 0; j < item.signature.size(); ++j) {
      item.signature[j] = static_cast<uint8_t>(i ^ (j * 7));
    }
    items.push_back(std::move(item));
  }
  return items;
}

// RFC 6962 section 2.1 MTH, written out recursively as the RFC states it.
Hash reference_root(std::span<const Hash> leaves) {
  if (leaves.size() == 1) return leaves[0];
  std::size_t k = 1;
  while (2 * k < leaves.size()) k *= 2;
  return node_hash(reference_root(leaves.first(k)), reference_root(leaves.subspan(k)));
}

Hash reference_batch_root(std::span<const PrekeyBatchItem> items) {
  std::vector<Hash> leaves;
  for (const auto& item : items) {
    leaves.push_back(
        leaf_hash(prekey_batch_leaf(item.kind, item.key_id, item.public_key, item.signature)));
  }
  return reference_root(leaves);
}

Hash flipped(Hash hash, std::size_t bit) {
  hash[(bit / 8) % kHashSize] ^= static_cast<uint8_t>(1u << (bit % 8));
  return hash;
}

std::vector<uint8_t> flipped(std::vector<uint8_t> bytes, std::size_t bit) {
  bytes.at(bit / 8) ^= static_cast<uint8_t>(1u << (bit % 8));
  return bytes;
}

// Fails the test unless `f` throws an audit::Error of kind mismatch or invalid_input (which of
// the two depends on whether the mutation changes the proof's expected length).
template <typename F>
void check_refused(F&& f) {
  const ErrorKind kind = test::error_kind_of(f);
  CHECK(kind != ErrorKind::internal);
}

}  // namespace

TEST_CASE("prekey batch leaf layout", "[unit]") {
  const std::vector<uint8_t> key(32, 0xaa);
  const std::vector<uint8_t> signature(64, 0xbb);
  const auto leaf = prekey_batch_leaf(PrekeyKind::one_time_prekey, 0x01020304, key, signature);
  std::string expected = "001f";
  expected += hex_encode(test::bytes_of("escrowless prekey batch leaf v1"));
  expected += "000f";
  expected += hex_encode(test::bytes_of("one_time_prekey"));
  expected += "000401020304";
  expected += "0020";
  expected += hex_encode(key);
  expected += "0040";
  expected += hex_encode(signature);
  CHECK(hex_encode(leaf) == expected);
  CHECK(leaf.size() == 2 + 31 + 2 + 15 + 6 + 2 + 32 + 2 + 64);
  CHECK(prekey_batch_leaf_hash(PrekeyKind::one_time_prekey, 0x01020304, key, signature) ==
        leaf_hash(leaf));

  const auto pq = prekey_batch_leaf(PrekeyKind::pq_one_time_prekey, 9,
                                    std::vector<uint8_t>(1184, 1), signature);
  CHECK(pq.size() == 2 + 31 + 2 + 18 + 6 + 2 + 1184 + 2 + 64);
  CHECK(hex_encode(std::span(pq).subspan(33, 20)) ==
        "0012" + hex_encode(test::bytes_of("pq_one_time_prekey")));
  CHECK(hex_encode(std::span(pq).subspan(59, 2)) == "04a0");
}

TEST_CASE("prekey batch leaves refuse what a batch can't hold", "[unit]") {
  const std::vector<uint8_t> x25519(32);
  const std::vector<uint8_t> mlkem(1184);
  const std::vector<uint8_t> signature(64);
  CHECK_THROWS_WITH(prekey_batch_leaf(PrekeyKind::signed_prekey, 1, x25519, signature),
                    "prekey batches hold one-time prekeys only, not signed_prekey");
  CHECK_THROWS_MATCHES(prekey_batch_leaf(PrekeyKind::pq_last_resort_prekey, 1, mlkem, signature),
                       Error, IsInvalidInput());
  for (const std::size_t size : {0, 31, 33, 1184}) {
    INFO(size);
    CHECK_THROWS_MATCHES(
        prekey_batch_leaf(PrekeyKind::one_time_prekey, 1, std::vector<uint8_t>(size), signature),
        Error, IsInvalidInput());
  }
  for (const std::size_t size : {32, 1183, 1185}) {
    INFO(size);
    CHECK_THROWS_MATCHES(
        prekey_batch_leaf(PrekeyKind::pq_one_time_prekey, 1, std::vector<uint8_t>(size), signature),
        Error, IsInvalidInput());
  }
  for (const std::size_t size : {0, 63, 65}) {
    INFO(size);
    CHECK_THROWS_WITH(
        prekey_batch_leaf(PrekeyKind::one_time_prekey, 1, x25519, std::vector<uint8_t>(size)),
        "prekey signatures are 64 bytes, got " + std::to_string(size));
  }
}

TEST_CASE("prekey batch roots refuse malformed batches, naming the item", "[unit]") {
  CHECK_THROWS_WITH(prekey_batch_root({}),
                    "prekey batch: the number of prekeys must be from 1 to 100, got 0");
  CHECK_THROWS_WITH(prekey_batch_root(make_batch(PrekeyKind::one_time_prekey, 101)),
                    "prekey batch: the number of prekeys must be from 1 to 100, got 101");
  CHECK_NOTHROW(prekey_batch_root(make_batch(PrekeyKind::one_time_prekey, 100)));

  auto mixed = make_batch(PrekeyKind::one_time_prekey, 3);
  mixed[2] = make_batch(PrekeyKind::pq_one_time_prekey, 3)[2];
  CHECK_THROWS_WITH(prekey_batch_root(mixed),
                    "prekey batch: item 2: a batch holds one kind of prekey: pq_one_time_prekey "
                    "after one_time_prekey");

  auto duplicate = make_batch(PrekeyKind::pq_one_time_prekey, 5);
  duplicate[4].key_id = duplicate[1].key_id;
  CHECK_THROWS_WITH(prekey_batch_root(duplicate),
                    "prekey batch: item 4: key id 1001 is also item 1's");

  auto short_key = make_batch(PrekeyKind::one_time_prekey, 6);
  short_key[5].public_key.pop_back();
  CHECK_THROWS_WITH(prekey_batch_root(short_key),
                    "prekey batch: item 5: one_time_prekey public keys are 32 bytes (X25519), "
                    "got 31");

  auto short_signature = make_batch(PrekeyKind::one_time_prekey, 2);
  short_signature[0].signature.pop_back();
  CHECK_THROWS_MATCHES(prekey_batch_root(short_signature), Error, IsInvalidInput());

  auto not_one_time = make_batch(PrekeyKind::one_time_prekey, 1);
  not_one_time[0].kind = PrekeyKind::signed_prekey;
  CHECK_THROWS_MATCHES(prekey_batch_root(not_one_time), Error, IsInvalidInput());

  const auto batch = make_batch(PrekeyKind::one_time_prekey, 7);
  CHECK_THROWS_WITH(prekey_batch_proof(batch, 7),
                    "prekey batch: index 7 is not below the batch size 7");
  CHECK_THROWS_MATCHES(prekey_batch_proof(duplicate, 0), Error, IsInvalidInput());
}

TEST_CASE("prekey batch roots: order and every field matter", "[unit]") {
  const auto batch = make_batch(PrekeyKind::one_time_prekey, 4);
  const Hash root = prekey_batch_root(batch);
  auto swapped = batch;
  std::swap(swapped[1], swapped[2]);
  CHECK(prekey_batch_root(swapped) != root);
  auto changed = batch;
  changed[3].key_id = 7;
  CHECK(prekey_batch_root(changed) != root);
  changed = batch;
  changed[0].public_key[31] ^= 0x80;
  CHECK(prekey_batch_root(changed) != root);
  changed = batch;
  changed[2].signature[0] ^= 1;
  CHECK(prekey_batch_root(changed) != root);
  // A batch of one: the root is that leaf's hash and the proof is empty.
  const auto one = make_batch(PrekeyKind::pq_one_time_prekey, 1);
  CHECK(prekey_batch_root(one) ==
        prekey_batch_leaf_hash(one[0].kind, one[0].key_id, one[0].public_key, one[0].signature));
  CHECK(prekey_batch_proof(one, 0).empty());
}

TEST_CASE("prekey batch proofs of every index of batches of 1 to 100", "[unit]") {
  for (uint32_t count = 1; count <= kMaxPrekeyBatch; ++count) {
    const auto items = make_batch(PrekeyKind::one_time_prekey, count);
    const Hash root = prekey_batch_root(items);
    REQUIRE(root == reference_batch_root(items));
    for (uint32_t index = 0; index < count; ++index) {
      INFO("batch of " << count << ", index " << index);
      const PrekeyBatchItem& item = items[index];
      const std::vector<Hash> proof = prekey_batch_proof(items, index);
      REQUIRE(proof.size() == inclusion_proof_length(index, count));
      const auto verify = [&](PrekeyKind kind, uint32_t key_id, std::span<const uint8_t> key,
                              std::span<const uint8_t> signature, uint32_t i, uint32_t n,
                              std::span<const Hash> p, const Hash& r) {
        verify_prekey_in_batch(kind, key_id, key, signature, i, n, p, r);
      };
      REQUIRE_NOTHROW(verify(item.kind, item.key_id, item.public_key, item.signature, index, count,
                             proof, root));

      // Any bit of any proof hash, the root, or the prekey's fields: mismatch.
      for (std::size_t k = 0; k < proof.size(); ++k) {
        std::vector<Hash> bad = proof;
        bad[k] = flipped(bad[k], (index + k * 37) % 256);
        CHECK_THROWS_MATCHES(verify(item.kind, item.key_id, item.public_key, item.signature, index,
                                    count, bad, root),
                             Error, IsMismatch());
      }
      CHECK_THROWS_MATCHES(verify(item.kind, item.key_id, item.public_key, item.signature, index,
                                  count, proof, flipped(root, index)),
                           Error, IsMismatch());
      CHECK_THROWS_MATCHES(verify(item.kind, item.key_id + 1, item.public_key, item.signature,
                                  index, count, proof, root),
                           Error, IsMismatch());
      CHECK_THROWS_MATCHES(verify(item.kind, item.key_id, flipped(item.public_key, index),
                                  item.signature, index, count, proof, root),
                           Error, IsMismatch());
      CHECK_THROWS_MATCHES(verify(item.kind, item.key_id, item.public_key,
                                  flipped(item.signature, 511 - index), index, count, proof, root),
                           Error, IsMismatch());
      // Another index: the proof does not fit (invalid_input) or does not lead to the root.
      // (Another count is not always refused: see the test below.)
      if (count > 1) {
        check_refused([&] {
          verify(item.kind, item.key_id, item.public_key, item.signature, (index + 1) % count,
                 count, proof, root);
        });
      }
      // A proof with a hash too many or too few is malformed.
      std::vector<Hash> longer = proof;
      longer.push_back(root);
      CHECK_THROWS_MATCHES(verify(item.kind, item.key_id, item.public_key, item.signature, index,
                                  count, longer, root),
                           Error, IsInvalidInput());
      if (!proof.empty()) {
        const std::span<const Hash> shorter(proof.data(), proof.size() - 1);
        CHECK_THROWS_MATCHES(verify(item.kind, item.key_id, item.public_key, item.signature, index,
                                    count, shorter, root),
                             Error, IsInvalidInput());
      }
    }
  }
}

TEST_CASE("ML-KEM-768 batch proofs", "[unit]") {
  for (const uint32_t count : {1u, 2u, 3u, 20u, 64u, 100u}) {
    const auto items = make_batch(PrekeyKind::pq_one_time_prekey, count);
    const Hash root = prekey_batch_root(items);
    CHECK(root == reference_batch_root(items));
    for (uint32_t index = 0; index < count; ++index) {
      INFO("batch of " << count << ", index " << index);
      const PrekeyBatchItem& item = items[index];
      const auto proof = prekey_batch_proof(items, index);
      CHECK_NOTHROW(verify_prekey_in_batch(item.kind, item.key_id, item.public_key, item.signature,
                                           index, count, proof, root));
      CHECK_THROWS_MATCHES(
          verify_prekey_in_batch(item.kind, item.key_id, flipped(item.public_key, 8 * index + 3),
                                 item.signature, index, count, proof, root),
          Error, IsMismatch());
    }
  }
}

TEST_CASE("verify_prekey_in_batch refuses malformed input", "[unit]") {
  const auto items = make_batch(PrekeyKind::one_time_prekey, 5);
  const Hash root = prekey_batch_root(items);
  const auto proof = prekey_batch_proof(items, 2);
  const PrekeyBatchItem& item = items[2];
  CHECK_THROWS_WITH(verify_prekey_in_batch(item.kind, item.key_id, item.public_key, item.signature,
                                           2, 0, proof, root),
                    "prekey batch: count must be from 1 to 100, got 0");
  CHECK_THROWS_WITH(verify_prekey_in_batch(item.kind, item.key_id, item.public_key, item.signature,
                                           2, 101, proof, root),
                    "prekey batch: count must be from 1 to 100, got 101");
  CHECK_THROWS_WITH(verify_prekey_in_batch(item.kind, item.key_id, item.public_key, item.signature,
                                           5, 5, proof, root),
                    "prekey batch: index 5 is not below the batch size 5");
  CHECK_THROWS_MATCHES(verify_prekey_in_batch(PrekeyKind::signed_prekey, item.key_id,
                                              item.public_key, item.signature, 2, 5, proof, root),
                       Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(
      verify_prekey_in_batch(item.kind, item.key_id, std::span(item.public_key).first(31),
                             item.signature, 2, 5, proof, root),
      Error, IsInvalidInput());
  CHECK_THROWS_WITH(verify_prekey_in_batch(item.kind, item.key_id, item.public_key, item.signature,
                                           2, 5, proof, flipped(root, 0)),
                    Catch::StartsWith("prekey batch: "));
}

TEST_CASE("the batch size is bound by the entry, not by the proof", "[unit]") {
  // As with any RFC 6962 inclusion proof, the same hashes can fit two tree sizes: leaf 0 of 3
  // has the proof [leaf 1, leaf 2], which also reads as leaf 0 of 4 with leaf 2 standing for
  // the subtree [2, 4). So a client takes the count from the logged entry, never from the
  // bundle alone (docs/protocol.md).
  const auto items = make_batch(PrekeyKind::one_time_prekey, 3);
  const Hash root = prekey_batch_root(items);
  const auto proof = prekey_batch_proof(items, 0);
  const PrekeyBatchItem& item = items[0];
  CHECK_NOTHROW(verify_prekey_in_batch(item.kind, item.key_id, item.public_key, item.signature, 0,
                                       4, proof, root));
}

// The tree builds levels pairwise; RFC 9162 splits at the largest power of two. Checked against
// the proof shapes of the log's own proofs (proof_shape.h), subtree by subtree.
TEST_CASE("prekey batch trees give the RFC 9162 inclusion proof of every index", "[unit]") {
  for (std::uint32_t count = 1; count <= kMaxPrekeyBatch; ++count) {
    std::vector<Hash> leaves(count);
    for (std::uint32_t i = 0; i < count; ++i) leaves[i].fill(static_cast<std::uint8_t>(i * 13 + count));
    const PrekeyBatchTree tree(leaves);
    CHECK(tree.root() == root_of(leaves));
    const std::span<const Hash> all(leaves);
    for (std::uint32_t index = 0; index < count; ++index) {
      INFO(index << " of " << count);
      std::vector<Hash> expected;
      for (const LeafRange& range : inclusion_proof_shape(index, count)) {
        expected.push_back(root_of(all.subspan(range.begin, range.size())));
      }
      REQUIRE(tree.path(index) == expected);
    }
    CHECK_THROWS_MATCHES(tree.path(count), Error, IsInvalidInput());
  }
  CHECK_THROWS_MATCHES(PrekeyBatchTree({}).root(), Error, IsInvalidInput());
}
