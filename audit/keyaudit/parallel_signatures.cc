#include "audit/keyaudit/parallel_signatures.h"

#include <algorithm>

namespace escrowless::keyaudit {
namespace {

constexpr std::size_t kMaxQueued = 64;  // batches

}  // namespace

ParallelSignatures::ParallelSignatures(unsigned threads) {
  for (unsigned i = 0; i < std::max(threads, 1U); ++i) workers_.emplace_back([this] { work(); });
}

ParallelSignatures::~ParallelSignatures() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();  // unwinding (finish() empties it): nobody wants these results
  }
  changed_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ParallelSignatures::submit(std::vector<audit::SignatureCheck> batch) {
  if (batch.empty()) return;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return queue_.size() < kMaxQueued; });
  queue_.push_back(std::move(batch));
  changed_.notify_all();
}

std::vector<audit::Violation> ParallelSignatures::finish() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return queue_.empty() && busy_ == 0; });
  if (error_) std::rethrow_exception(error_);
  // Workers finish in any order: sorted, the result does not depend on their timing.
  std::sort(found_.begin(), found_.end(),
            [](const audit::Violation& a, const audit::Violation& b) { return a.index < b.index; });
  return std::exchange(found_, {});
}

void ParallelSignatures::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, nothing left
    std::vector<audit::SignatureCheck> batch = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    changed_.notify_all();  // room in the queue
    lock.unlock();
    std::vector<audit::Violation> found;
    std::exception_ptr error;
    try {
      for (const audit::SignatureCheck& check : batch) {
        if (auto violation = check.run()) found.push_back(std::move(*violation));
      }
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    --busy_;
    for (audit::Violation& violation : found) found_.push_back(std::move(violation));
    if (error && !error_) error_ = error;
    changed_.notify_all();
  }
}

}  // namespace escrowless::keyaudit
