// One-time prekey batches (docs/protocol.md section 2): an upload of 1 to kMaxPrekeyBatch
// one-time prekeys of one kind is logged as one prekeys.signed member {"count", "root"}, where
// root is the RFC 6962 Merkle root over the batch's leaves in upload order. A bundle hands out
// one prekey with its signature, its index, the batch size and its inclusion proof in the batch.
//
// Leaf: every field a 2-byte big-endian length followed by its bytes, in this order:
//   "escrowless prekey batch leaf v1" || kind name || key id (uint32, big-endian) ||
//   public key || signature (64 bytes).
// Its hash in the tree is the RFC 6962 leaf hash, SHA-256(0x00 || leaf).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "audit/hash.h"
#include "audit/prekey.h"

namespace escrowless::audit {

inline constexpr std::string_view kPrekeyBatchLeafContext = "escrowless prekey batch leaf v1";

// One uploaded one-time prekey with the signature the token made over its message.
struct PrekeyBatchItem {
  PrekeyKind kind = PrekeyKind::one_time_prekey;
  uint32_t key_id = 0;
  std::vector<uint8_t> public_key;
  std::vector<uint8_t> signature;  // 64 bytes

  friend bool operator==(const PrekeyBatchItem&, const PrekeyBatchItem&) = default;
};

// The leaf bytes of one prekey (layout above). Requires a one-time kind (is_one_time), a public
// key of the kind's size and a 64-byte signature; throws invalid_input otherwise. The signature
// itself is not verified here (that needs the account, device and identity key).
std::vector<uint8_t> prekey_batch_leaf(PrekeyKind kind, uint32_t key_id,
                                       std::span<const uint8_t> public_key,
                                       std::span<const uint8_t> signature);

// leaf_hash(prekey_batch_leaf(...)), with the same preconditions.
Hash prekey_batch_leaf_hash(PrekeyKind kind, uint32_t key_id, std::span<const uint8_t> public_key,
                            std::span<const uint8_t> signature);

// The batch's root: root_of() over the leaf hashes of `items` in order. Requires 1 to
// kMaxPrekeyBatch items, all of one one-time kind, with distinct key ids and well-formed keys
// and signatures; throws invalid_input otherwise (naming the item).
Hash prekey_batch_root(std::span<const PrekeyBatchItem> items);

// The RFC 6962 tree over a batch's leaf hashes, kept level by level (levels[0] = the leaves; a
// node without a sibling moves up unchanged, which builds the same tree as RFC 6962's split at
// the largest power of two). The one computation of a one-time prekey's path in its batch: the
// server's store and bundle writer and the proofs below all use it, so a path costs no hashing
// once a batch's tree is built.
class PrekeyBatchTree {
 public:
  explicit PrekeyBatchTree(std::vector<Hash> leaves);
  const std::vector<Hash>& leaves() const noexcept { return levels_.front(); }
  // The root (MTH of the leaves); requires at least one leaf, else throws invalid_input.
  Hash root() const;
  // The inclusion proof of leaf `index`, in proof order (as verify_prekey_in_batch takes it).
  // Throws invalid_input unless index < leaves().size().
  std::vector<Hash> path(uint32_t index) const;

 private:
  std::vector<std::vector<Hash>> levels_;
};

// The RFC 6962 inclusion proof of items[index] in the batch (the hashes a bundle carries), in
// proof order. Requires index < items.size() and a valid batch (as prekey_batch_root);
// throws invalid_input otherwise.
std::vector<Hash> prekey_batch_proof(std::span<const PrekeyBatchItem> items, uint32_t index);

// Checks that the prekey (kind, key id, public key, signature) is leaf `index` of the batch of
// `count` leaves whose root is `root`, logged in a prekeys.signed entry. Throws invalid_input for
// malformed input (not a one-time kind, wrong sizes, count outside 1 to kMaxPrekeyBatch,
// index >= count, a proof of the wrong length) and mismatch when the proof does not lead to
// `root`. The caller checks the signature separately (verify_prekey_signature), and that `root`
// and `count` come from an entry the log proves to contain, of the same kind.
void verify_prekey_in_batch(PrekeyKind kind, uint32_t key_id, std::span<const uint8_t> public_key,
                            std::span<const uint8_t> signature, uint32_t index, uint32_t count,
                            std::span<const Hash> proof, const Hash& root);

}  // namespace escrowless::audit
