#include "keyservice/log/sequencer.h"

#include <chrono>

#include "audit/checkpoint.h"
#include "keyservice/error.h"

namespace escrowless::keyservice {
namespace {

// How often a stored but unsigned checkpoint is retried while no new entries arrive.
constexpr auto kSignRetry = std::chrono::seconds(1);

}  // namespace

Sequencer::Sequencer(LogStorage& storage, NoteSigner& signer, std::string origin,
                     audit::CompactTree tree, bool unsigned_tail, Options options)
    : storage_(storage),
      signer_(signer),
      origin_(std::move(origin)),
      options_(options),
      tree_(std::move(tree)),
      unsigned_tail_(unsigned_tail),
      writer_([this] { run(); }) {}

Sequencer::~Sequencer() { stop(); }

std::future<Receipt> Sequencer::submit(std::string entry, std::int64_t queue_id) {
  Pending pending{std::move(entry), queue_id, {}};
  std::future<Receipt> future = pending.promise.get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw Error(ErrorKind::unavailable, "the log is shutting down");
    pending_.push_back(std::move(pending));
  }
  wake_.notify_one();
  return future;
}

void Sequencer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
}

Sequencer::Stats Sequencer::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Sequencer::run() {
  while (true) {
    std::deque<Pending> batch;
    {
      std::unique_lock lock(mutex_);
      const auto ready = [this] { return !pending_.empty() || stopping_; };
      if (unsigned_tail_ || resync_) {
        wake_.wait_for(lock, kSignRetry, ready);
      } else {
        wake_.wait(lock, ready);
      }
      if (pending_.empty() && stopping_) break;
      while (!pending_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    if (batch.empty()) {
      // Woken to retry signing the stored tail.
      try {
        if (resync_) catch_up();
        if (!unsigned_tail_) continue;
        sign_and_store(tree_.size(), audit::format_checkpoint(origin_, tree_.size(), tree_.root()));
      } catch (const std::exception&) {
        std::lock_guard lock(mutex_);
        ++stats_.signing_failures;
      }
      continue;
    }
    write_batch(batch);
  }
}

void Sequencer::write_batch(std::deque<Pending>& batch) {
  if (resync_) {
    try {
      catch_up();
    } catch (...) {
      for (Pending& pending : batch) pending.promise.set_exception(std::current_exception());
      return;
    }
  }
  const std::uint64_t first = tree_.size();
  try {
    // Build on a copy: if the transaction fails, nothing in memory has moved.
    audit::CompactTree next = tree_;
    std::vector<NewLeaf> leaves;
    std::vector<NodeHash> nodes;
    leaves.reserve(batch.size());
    for (Pending& pending : batch) {
      const audit::Hash hash = audit::leaf_hash(pending.entry);
      next.append(hash, [&nodes](const audit::NodeId& node, const audit::Hash& h) {
        if (node.level > 0) nodes.push_back({node, h});
      });
      leaves.push_back({std::move(pending.entry), hash, pending.queue_id});
    }
    const audit::Hash root = next.root();
    const std::string body = audit::format_checkpoint(origin_, next.size(), root);
    storage_.append(leaves, nodes, StoredCheckpoint{next.size(), root, body, {}});
    tree_ = std::move(next);
    unsigned_tail_ = true;

    const std::string note = sign_and_store(tree_.size(), body);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i].promise.set_value(Receipt{first + i, tree_.size(), note});
    }
    std::lock_guard lock(mutex_);
    ++stats_.batches;
    stats_.entries += batch.size();
  } catch (...) {
    const std::exception_ptr error = std::current_exception();
    // tree_ moves only once the batch is stored: then only signing failed.
    const bool stored = tree_.size() == first + batch.size();
    std::string why = "unknown error";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i].promise.set_exception(stored ? std::make_exception_ptr(UnsignedEntry(first + i, why)) : error);
    }
    if (!stored) resync_ = true;
    std::lock_guard lock(mutex_);
    if (unsigned_tail_) ++stats_.signing_failures;
  }
}

void Sequencer::catch_up() {
  const std::uint64_t stored = storage_.leaf_count();
  if (stored < tree_.size()) {
    throw Error(ErrorKind::integrity, "the log storage holds " + std::to_string(stored) + " leaves, fewer than the " +
                                          std::to_string(tree_.size()) + " written");
  }
  if (stored > tree_.size()) {
    audit::CompactTree next = tree_;
    storage_.for_each_leaf(tree_.size(), stored,
                           [&next](std::uint64_t index, std::span<const std::uint8_t> data, const audit::Hash& hash) {
                             if (audit::leaf_hash(data) != hash) {
                               throw Error(ErrorKind::integrity, "stored leaf " + std::to_string(index) +
                                                                     " does not match its hash");
                             }
                             next.append(hash);
                           });
    const auto latest = storage_.latest_checkpoint();
    if (!latest || latest->size != next.size() || latest->root != next.root() ||
        latest->body != audit::format_checkpoint(origin_, next.size(), next.root())) {
      throw Error(ErrorKind::integrity, "the stored tail of size " + std::to_string(stored) +
                                            " does not match its stored checkpoint");
    }
    tree_ = std::move(next);
    unsigned_tail_ = latest->note.empty();
  }
  resync_ = false;
}

std::string Sequencer::sign_and_store(std::uint64_t size, const std::string& body) {
  const std::string note = signer_.sign(body);
  storage_.sign_checkpoint(size, note);
  unsigned_tail_ = false;
  if (options_.on_signed) options_.on_signed(size, note);
  return note;
}

}  // namespace escrowless::keyservice
