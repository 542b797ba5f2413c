// The sequencer turns submitted entries into log leaves in batches: each batch is one SQLite
// transaction (leaves, completed subtrees, the unsigned checkpoint) and one checkpoint signature
// in the token, so throughput is bounded by neither fsync nor HSM signing per entry. A submitter
// hears back only when its entry is durable and covered by a signed, stored checkpoint.
//
// One thread does all writing. If signing fails after the batch was stored (the token went
// away), those entries are in the log but their submitters get the error; the sequencer keeps
// trying to sign the stored tail, and every later checkpoint covers them.
//
// A batch whose storing failed may be stored all the same (a database connection lost around
// COMMIT): before writing again, the sequencer compares the stored size with its own, and adopts
// a stored tail after checking it against its checkpoint; its submitters were told of the error.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "audit/merkle.h"
#include "keyservice/error.h"
#include "keyservice/log/log_storage.h"
#include "keyservice/log/note_signer.h"

namespace escrowless::keyservice {

struct Receipt {
  std::uint64_t index = 0;      // the entry's leaf index
  std::uint64_t tree_size = 0;  // size of the checkpoint that covers it
  std::string checkpoint;       // that checkpoint, a signed note
};

// What a submitter hears when its entry was stored but the checkpoint covering it could not be
// signed (the token went away): the write is not acknowledged, yet the entry is in the log for
// good, and the next signed checkpoint will cover it. Callers whose entry has an effect outside
// the log complete or undo that effect with this in mind.
class UnsignedEntry : public Error {
 public:
  UnsignedEntry(std::uint64_t index, const std::string& why)
      : Error(ErrorKind::unavailable,
              "entry " + std::to_string(index) + " is stored but no signed checkpoint covers it yet: " + why),
        index_(index) {}
  std::uint64_t index() const { return index_; }

 private:
  std::uint64_t index_;
};

class Sequencer {
 public:
  struct Options {
    std::size_t max_batch = 8192;  // entries per transaction and signature, at most
    // Called on the writer thread with each checkpoint once it is signed and stored, before any
    // submitter hears of it.
    std::function<void(std::uint64_t size, const std::string& note)> on_signed;
  };

  // `tree` is the compact range of every stored leaf; the caller has checked it against the
  // stored checkpoints. `unsigned_tail` says the newest stored checkpoint still needs signing.
  Sequencer(LogStorage& storage, NoteSigner& signer, std::string origin, audit::CompactTree tree,
            bool unsigned_tail, Options options);
  ~Sequencer();
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  // Queues an entry (its exact bytes). The future yields the receipt, or the error that kept the
  // entry from being acknowledged: UnsignedEntry when it was stored all the same. Throws
  // Error(unavailable) once stop() has begun. `queue_id`: the entry's row in a shared log's
  // queue, marked placed in the batch's transaction (NewLeaf::queue_id).
  std::future<Receipt> submit(std::string entry, std::int64_t queue_id = 0);

  // Sequences everything already submitted, then stops the writer thread.
  void stop();

  struct Stats {
    std::uint64_t batches = 0;
    std::uint64_t entries = 0;
    std::uint64_t signing_failures = 0;
  };
  Stats stats() const;

 private:
  struct Pending {
    std::string entry;
    std::int64_t queue_id = 0;
    std::promise<Receipt> promise;
  };

  void run();
  void write_batch(std::deque<Pending>& batch);
  std::string sign_and_store(std::uint64_t size, const std::string& body);
  void catch_up();

  LogStorage& storage_;
  NoteSigner& signer_;
  const std::string origin_;
  const Options options_;
  audit::CompactTree tree_;   // writer thread only
  bool unsigned_tail_;        // writer thread only
  bool resync_ = false;       // writer thread only: a failed append may have been stored

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> pending_;
  bool stopping_ = false;
  Stats stats_;
  std::thread writer_;
};

}  // namespace escrowless::keyservice
