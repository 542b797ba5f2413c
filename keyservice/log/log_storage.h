// Where the log keeps its leaves, subtree hashes and checkpoints. The tree math never touches
// storage: callers ask for perfect-subtree hashes by NodeId (audit/proof_shape.h says which).
//
// A batch is written in two steps so that the log never signs a checkpoint it has not stored:
// append() stores the leaves, the subtree hashes they complete and the *unsigned* checkpoint
// body in one transaction; sign_checkpoint() then stores the signed note. Only signed
// checkpoints are served; a crash between the two leaves an unsigned tail that the next start
// checks and signs (it is the same checkpoint, so the log still never signs two different ones).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audit/hash.h"
#include "audit/tree_coords.h"
#include "keyservice/error.h"

namespace escrowless::keyservice {

struct StoredCheckpoint {
  std::uint64_t size = 0;
  audit::Hash root{};
  std::string body;  // the checkpoint text that is (or will be) signed
  std::string note;  // the signed note; empty while unsigned
};

struct NewLeaf {
  std::string data;  // the exact entry bytes
  audit::Hash hash;  // RFC 6962 leaf hash of data
  // A shared log's entries wait in the database's queue (log_queue.h); this is the queue row the
  // append marks as placed at this leaf, in the same transaction. 0: not from the queue.
  std::int64_t queue_id = 0;
};

struct NodeHash {
  audit::NodeId node;
  audit::Hash hash;
};

// For backends: a stored 32-byte hash read back; Error(integrity) naming `what` otherwise.
inline audit::Hash read_stored_hash(std::span<const std::uint8_t> bytes, const char* what) {
  if (bytes.size() != audit::kHashSize) {
    throw Error(ErrorKind::integrity, std::string("stored ") + what + " is not 32 bytes");
  }
  audit::Hash hash{};
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  // Log-wide settings written once at creation (origin, log key id, verifier key).
  virtual std::optional<std::string> meta(std::string_view key) = 0;
  virtual void set_meta(std::string_view key, std::string_view value) = 0;

  virtual std::uint64_t leaf_count() = 0;

  // One transaction: leaves at indices [leaf_count(), leaf_count() + leaves.size()), the perfect
  // subtree hashes of level >= 1 that they complete, and the unsigned checkpoint for the new size.
  virtual void append(std::span<const NewLeaf> leaves, std::span<const NodeHash> nodes,
                      const StoredCheckpoint& checkpoint) = 0;

  // Stores the signed note of the checkpoint of `size`. Requires that checkpoint to exist.
  virtual void sign_checkpoint(std::uint64_t size, std::string_view note) = 0;

  // The newest checkpoint, signed or not; and the newest signed one.
  virtual std::optional<StoredCheckpoint> latest_checkpoint() = 0;
  virtual std::optional<StoredCheckpoint> latest_signed_checkpoint() = 0;

  // Hashes of perfect subtrees, in the order asked; level 0 is the leaf hash. Requires every node
  // to be complete in the stored tree; throws Error(internal) otherwise.
  virtual std::vector<audit::Hash> node_hashes(std::span<const audit::NodeId> nodes) = 0;

  // Entry bytes of leaves [start, start + count), which must be stored.
  virtual std::vector<std::string> leaves(std::uint64_t start, std::uint64_t count) = 0;

  // Calls visit(index, data, stored leaf hash) for leaves [start, end) in order, without holding
  // more than one leaf in memory.
  using LeafVisitor = std::function<void(std::uint64_t, std::span<const std::uint8_t>, const audit::Hash&)>;
  virtual void for_each_leaf(std::uint64_t start, std::uint64_t end, const LeafVisitor& visit) = 0;

  // Calls visit(checkpoint) for every signed checkpoint, oldest first.
  virtual void for_each_signed_checkpoint(const std::function<void(const StoredCheckpoint&)>& visit) = 0;

  // Calls visit(node, stored hash) for every stored subtree of level >= 1, in no fixed order.
  virtual void for_each_node(const std::function<void(const NodeHash&)>& visit) = 0;
};

}  // namespace escrowless::keyservice
