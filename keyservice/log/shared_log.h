// The log written by several nodes sharing one PostgreSQL database. Any node accepts entries;
// exactly one node at a time sequences them: the node that holds the log's writer lock and
// epoch (PostgresLogStorage::open_writer). Leadership is that lock and nothing else, so the
// storage itself refuses a deposed leader's writes (the epoch check in every transaction), and
// nothing is signed that was not stored under the current epoch.
//
// Every node runs two threads:
//   - the acknowledger queues this node's entries in log_queue (log_queue.h), waits for
//     kLogSignedChannel, and answers each caller once its entry is placed and covered by a
//     signed checkpoint, with that checkpoint: the same Receipt a single-node log gives. It also
//     publishes every newer signed checkpoint it sees, whichever node signed it. A caller that
//     hears nothing within ack_timeout gets Error(unavailable) and its row is withdrawn, so it is
//     never logged afterwards; if it was placed already, UnsignedEntry says where.
//   - the candidate tries to take the writer lock every election_interval. Once it holds it, it
//     checks the stored tree's right edge against the newest checkpoint (as a restart does),
//     signs a stored tail the previous leader left unsigned, and feeds the waiting queue rows to
//     a Sequencer, which marks each row placed in the transaction that stores its leaf. It steps
//     down on the first write the database refuses as fenced, and tries again later.
// A leader that dies (SIGKILL) loses its lock when PostgreSQL sees the connection close; the
// next candidate to try takes over, so failover takes about election_interval plus that.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "keyservice/log/log_queue.h"
#include "keyservice/log/note_signer.h"
#include "keyservice/log/sequencer.h"

namespace escrowless::keyservice {

class SharedLog {
 public:
  struct Options {
    std::size_t max_batch = 8192;
    std::chrono::milliseconds election_interval{500};
    std::chrono::milliseconds ack_timeout{30000};
    // Called with each signed checkpoint newer than the last one reported, whichever node signed.
    std::function<void(std::uint64_t size, const std::string& note)> on_signed;
  };

  SharedLog(std::string conninfo, NoteSigner& signer, std::string origin, Options options);
  ~SharedLog();
  SharedLog(const SharedLog&) = delete;
  SharedLog& operator=(const SharedLog&) = delete;

  // As Sequencer::submit. Error(unavailable) once stop() has begun.
  std::future<Receipt> submit(std::string entry);

  // Answers every submitted entry (waiting up to ack_timeout for the leader), then stops leading.
  void stop();

  // True while this node sequences the log.
  bool leading() const;
  // This node's batches, entries and signing failures as leader, over all its terms.
  Sequencer::Stats stats() const;

 private:
  struct Pending {
    std::string entry;
    std::promise<Receipt> promise;
  };
  struct Awaiting {
    std::promise<Receipt> promise;
    std::chrono::steady_clock::time_point deadline;
    std::optional<std::uint64_t> index;  // once placed
  };

  void acknowledge_loop();
  void settle(LogQueue& queue);
  void time_out(LogQueue& queue);
  void candidate_loop();
  void lead(std::unique_ptr<class PostgresLogStorage> writer);
  void report_signed(std::uint64_t size, const std::string& note);

  const std::string conninfo_;
  NoteSigner& signer_;
  const std::string origin_;
  const Options options_;

  // Wakes the acknowledger (a new entry, stop) and the leader (a batch signed, stop).
  class WakePipe {
   public:
    WakePipe();
    ~WakePipe();
    void wake();
    void drain();
    int fd() const { return fds_[0]; }

   private:
    int fds_[2];
  };
  WakePipe ack_wake_, lead_wake_;

  mutable std::mutex mutex_;
  std::condition_variable stopped_;
  std::deque<Pending> pending_;
  bool stopping_ = false;        // no new entries
  bool stop_leading_ = false;    // set once every entry is answered
  bool leading_ = false;
  Sequencer* sequencer_ = nullptr;  // while leading
  Sequencer::Stats past_terms_;
  std::uint64_t reported_size_ = 0;

  std::map<std::int64_t, Awaiting> awaiting_;  // acknowledger thread only, by queue row

  std::thread acknowledger_;
  std::thread candidate_;
};

}  // namespace escrowless::keyservice
