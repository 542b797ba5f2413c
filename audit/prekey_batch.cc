#include "audit/prekey_batch.h"

#include <string>

#include "audit/byte_fields.h"
#include "audit/error.h"
#include "audit/merkle.h"
#include "audit/proof_shape.h"
#include "audit/proof_verify.h"

namespace escrowless::audit {
namespace {

std::string batch_size_error(std::string_view what, std::size_t size) {
  std::string message = "prekey batch: ";
  message += what;
  message += " must be from 1 to ";
  message += std::to_string(kMaxPrekeyBatch);
  message += ", got ";
  message += std::to_string(size);
  return message;
}

std::string item_prefix(std::size_t index) {
  std::string prefix = "prekey batch: item ";
  prefix += std::to_string(index);
  prefix += ": ";
  return prefix;
}

// The leaf hashes of a valid batch, in order (see prekey_batch_root for what valid means).
std::vector<Hash> leaf_hashes(std::span<const PrekeyBatchItem> items) {
  if (items.empty() || items.size() > kMaxPrekeyBatch) {
    throw invalid_input(batch_size_error("the number of prekeys", items.size()));
  }
  std::vector<Hash> hashes;
  hashes.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const PrekeyBatchItem& item = items[i];
    if (item.kind != items[0].kind) {
      std::string message = item_prefix(i);
      message += "a batch holds one kind of prekey: ";
      message += to_string(item.kind);
      message += " after ";
      message += to_string(items[0].kind);
      throw invalid_input(message);
    }
    // At most 100 items: a quadratic scan is cheaper than a set.
    for (std::size_t j = 0; j < i; ++j) {
      if (items[j].key_id == item.key_id) {
        std::string message = item_prefix(i);
        message += "key id ";
        message += std::to_string(item.key_id);
        message += " is also item ";
        message += std::to_string(j);
        message += "'s";
        throw invalid_input(message);
      }
    }
    try {
      hashes.push_back(
          prekey_batch_leaf_hash(item.kind, item.key_id, item.public_key, item.signature));
    } catch (const Error& e) {
      std::string message = item_prefix(i);
      message += e.what();
      throw Error(e.kind(), message);
    }
  }
  return hashes;
}

}  // namespace

std::vector<uint8_t> prekey_batch_leaf(PrekeyKind kind, uint32_t key_id,
                                       std::span<const uint8_t> public_key,
                                       std::span<const uint8_t> signature) {
  if (!is_one_time(kind)) {
    std::string message = "prekey batches hold one-time prekeys only, not ";
    message += to_string(kind);
    throw invalid_input(message);
  }
  check_prekey_size(kind, public_key);
  if (signature.size() != kPrekeySignatureSize) {
    throw invalid_input("prekey signatures are 64 bytes, got " + std::to_string(signature.size()));
  }
  std::vector<uint8_t> leaf;
  leaf.reserve(128 + public_key.size());  // the other fields take 127 bytes
  append_field(leaf, kPrekeyBatchLeafContext);
  append_field(leaf, to_string(kind));
  append_uint32_field(leaf, key_id);
  append_field(leaf, public_key);
  append_field(leaf, signature);
  return leaf;
}

Hash prekey_batch_leaf_hash(PrekeyKind kind, uint32_t key_id, std::span<const uint8_t> public_key,
                            std::span<const uint8_t> signature) {
  return leaf_hash(prekey_batch_leaf(kind, key_id, public_key, signature));
}

Hash prekey_batch_root(std::span<const PrekeyBatchItem> items) {
  return root_of(leaf_hashes(items));
}

PrekeyBatchTree::PrekeyBatchTree(std::vector<Hash> leaves) {
  levels_.push_back(std::move(leaves));
  while (levels_.back().size() > 1) {
    const std::vector<Hash>& below = levels_.back();
    std::vector<Hash> level;
    level.reserve((below.size() + 1) / 2);
    for (std::size_t i = 0; i + 1 < below.size(); i += 2) level.push_back(node_hash(below[i], below[i + 1]));
    if (below.size() % 2 == 1) level.push_back(below.back());
    levels_.push_back(std::move(level));
  }
}

Hash PrekeyBatchTree::root() const {
  if (leaves().empty()) throw invalid_input("prekey batch: a batch has at least one leaf");
  return levels_.back().front();
}

std::vector<Hash> PrekeyBatchTree::path(uint32_t index) const {
  if (index >= leaves().size()) {
    throw invalid_input("prekey batch: index " + std::to_string(index) + " is not below the batch size " +
                        std::to_string(leaves().size()));
  }
  std::vector<Hash> path;
  path.reserve(levels_.size());
  std::size_t at = index;
  for (std::size_t level = 0; level + 1 < levels_.size(); ++level, at /= 2) {
    const std::size_t sibling = at ^ 1;
    if (sibling < levels_[level].size()) path.push_back(levels_[level][sibling]);
  }
  return path;
}

std::vector<Hash> prekey_batch_proof(std::span<const PrekeyBatchItem> items, uint32_t index) {
  return PrekeyBatchTree(leaf_hashes(items)).path(index);
}

void verify_prekey_in_batch(PrekeyKind kind, uint32_t key_id, std::span<const uint8_t> public_key,
                            std::span<const uint8_t> signature, uint32_t index, uint32_t count,
                            std::span<const Hash> proof, const Hash& root) {
  if (count == 0 || count > kMaxPrekeyBatch) {
    throw invalid_input(batch_size_error("count", count));
  }
  if (index >= count) {
    throw invalid_input("prekey batch: index " + std::to_string(index) +
                        " is not below the batch size " + std::to_string(count));
  }
  const Hash leaf = prekey_batch_leaf_hash(kind, key_id, public_key, signature);
  try {
    verify_inclusion(index, count, leaf, proof, root);
  } catch (const Error& e) {
    std::string message = "prekey batch: ";
    message += e.what();
    throw Error(e.kind(), message);
  }
}

}  // namespace escrowless::audit
