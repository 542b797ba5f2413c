// Prekey signature checks on worker threads: Ed25519 verification is most of an audit's CPU time
// and each check is independent (audit::SignatureCheck), so keyaudit verify queues them here while
// its main thread goes on with the next entries.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "audit/log_auditor.h"

namespace escrowless::keyaudit {

class ParallelSignatures {
 public:
  // `threads` workers (at least 1).
  explicit ParallelSignatures(unsigned threads);
  ~ParallelSignatures();
  ParallelSignatures(const ParallelSignatures&) = delete;
  ParallelSignatures& operator=(const ParallelSignatures&) = delete;

  // Queues a batch; waits while too many are queued, so memory stays bounded.
  void submit(std::vector<audit::SignatureCheck> batch);

  // Waits for every queued check and returns the violations found, by entry index (a check
  // finds at most one).
  // Rethrows a worker's unexpected error.
  std::vector<audit::Violation> finish();

 private:
  void work();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::vector<audit::SignatureCheck>> queue_;
  std::size_t busy_ = 0;
  bool stopping_ = false;
  std::vector<audit::Violation> found_;
  std::exception_ptr error_;
  std::vector<std::thread> workers_;
};

}  // namespace escrowless::keyaudit
