#include "keyservice/log/tree_check.h"

#include "audit/checkpoint.h"
#include "audit/error.h"
#include "audit/proof_shape.h"
#include "keyservice/error.h"
#include "keyservice/log/log_proofs.h"

namespace escrowless::keyservice {
namespace {

constexpr std::size_t kNodeCheckBatch = 4096;

[[noreturn]] void fail(const std::string& what) {
  throw Error(ErrorKind::integrity, "the stored log does not match what it signed: " + what);
}

// Compares recomputed subtrees with the stored ones, a batch at a time.
class NodeChecker {
 public:
  explicit NodeChecker(LogStorage& nodes) : nodes_(nodes) {}

  void add(const audit::NodeId& node, const audit::Hash& hash) {
    pending_.push_back({node, hash});
    if (pending_.size() >= kNodeCheckBatch) flush();
  }

  void flush() {
    std::vector<audit::NodeId> ids;
    ids.reserve(pending_.size());
    for (const NodeHash& node : pending_) ids.push_back(node.node);
    std::vector<audit::Hash> stored;
    try {
      stored = nodes_.node_hashes(ids);
    } catch (const Error& e) {
      fail(e.what());
    }
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (stored[i] != pending_[i].hash) {
        fail("subtree " + audit::to_string(pending_[i].node) + " is stored as " +
             audit::to_hex(stored[i]) + " but the leaves give " + audit::to_hex(pending_[i].hash));
      }
    }
    pending_.clear();
  }

 private:
  LogStorage& nodes_;
  std::vector<NodeHash> pending_;
};

audit::CompactTree rehash_all(LogStorage& leaves, LogStorage& nodes, std::uint64_t count) {
  audit::CompactTree tree;
  NodeChecker checker(nodes);
  leaves.for_each_leaf(0, count, [&](std::uint64_t index, std::span<const std::uint8_t> data,
                                     const audit::Hash& stored) {
    const audit::Hash hash = audit::leaf_hash(data);
    if (hash != stored) fail("leaf " + std::to_string(index) + ": stored leaf hash does not match its data");
    tree.append(hash, [&](const audit::NodeId& node, const audit::Hash& h) {
      if (node.level > 0) checker.add(node, h);
    });
  });
  checker.flush();
  return tree;
}

audit::CompactTree read_right_edge(LogStorage& nodes, std::uint64_t count) {
  if (count == 0) return {};
  const auto ids = audit::perfect_subtrees(audit::LeafRange{0, count});
  try {
    return audit::CompactTree::from_nodes(count, nodes.node_hashes(ids));
  } catch (const Error& e) {
    fail(e.what());
  }
}

void check_signed(const StoredCheckpoint& stored, const audit::Hash& tree_root,
                  const std::string& origin, const audit::VerifierKey& verifier) {
  audit::Checkpoint signed_checkpoint;
  try {
    signed_checkpoint = audit::open_checkpoint(stored.note, origin, std::span(&verifier, 1));
  } catch (const audit::Error& e) {
    fail("checkpoint " + std::to_string(stored.size) + ": " + e.what());
  }
  if (signed_checkpoint.size != stored.size || signed_checkpoint.root != stored.root ||
      audit::format_checkpoint(signed_checkpoint) != stored.body) {
    fail("checkpoint " + std::to_string(stored.size) + ": the signed note differs from the stored body");
  }
  if (tree_root != stored.root) {
    fail("checkpoint " + std::to_string(stored.size) + " signed root " + audit::to_hex(stored.root) +
         " but the stored tree gives " + audit::to_hex(tree_root));
  }
}

}  // namespace

CheckedTree check_stored_tree(LogStorage& leaves, LogStorage& nodes, const std::string& origin,
                              const audit::VerifierKey& verifier, bool all_leaves) {
  const std::uint64_t count = leaves.leaf_count();
  const std::optional<StoredCheckpoint> latest = leaves.latest_checkpoint();
  if (!latest) {
    if (count != 0) fail(std::to_string(count) + " leaves are stored but no checkpoint");
    return {};
  }
  if (latest->size != count) {
    fail("the newest checkpoint covers " + std::to_string(latest->size) + " leaves but " +
         std::to_string(count) + " are stored");
  }

  CheckedTree checked{all_leaves ? rehash_all(leaves, nodes, count) : read_right_edge(nodes, count),
                      latest->note.empty()};
  const audit::Hash root = checked.tree.root();
  if (root != latest->root) {
    fail("the newest checkpoint has root " + audit::to_hex(latest->root) +
         " but the stored leaves give " + audit::to_hex(root));
  }
  if (latest->body != audit::format_checkpoint(origin, count, root)) {
    fail("the newest checkpoint's text is not the checkpoint of this origin, size and root");
  }

  if (all_leaves) {
    leaves.for_each_signed_checkpoint([&](const StoredCheckpoint& stored) {
      check_signed(stored, root_at(nodes, stored.size), origin, verifier);
    });
  } else if (const auto last_signed = leaves.latest_signed_checkpoint()) {
    check_signed(*last_signed, root_at(nodes, last_signed->size), origin, verifier);
  }
  return checked;
}

}  // namespace escrowless::keyservice
