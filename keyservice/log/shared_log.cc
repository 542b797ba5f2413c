#include "keyservice/log/shared_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "audit/checkpoint.h"
#include "keyservice/error.h"
#include "keyservice/log/postgres_log_storage.h"
#include "keyservice/log/tree_check.h"

namespace escrowless::keyservice {
namespace {

using Clock = std::chrono::steady_clock;

// Rows queued per transaction by the acknowledger.
constexpr std::size_t kEnqueueChunk = 1000;
// How long the acknowledger waits for a notification before looking again on its own (a
// notification sent while its connection was being re-established is lost).
constexpr auto kAckPoll = std::chrono::milliseconds(200);
constexpr auto kIdlePoll = std::chrono::milliseconds(1000);
// How long a leader with nothing to do waits before reading the queue again.
constexpr auto kLeaderPoll = std::chrono::milliseconds(500);
// Pause after a database error, so a database that is down is not hammered.
constexpr auto kErrorPause = std::chrono::milliseconds(200);

std::string what_of(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace

SharedLog::WakePipe::WakePipe() {
  if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) throw Error(ErrorKind::internal, "cannot create a pipe");
}
SharedLog::WakePipe::~WakePipe() {
  ::close(fds_[0]);
  ::close(fds_[1]);
}
void SharedLog::WakePipe::wake() {
  const char byte = 1;
  [[maybe_unused]] const ssize_t n = ::write(fds_[1], &byte, 1);  // full pipe: already woken
}
void SharedLog::WakePipe::drain() {
  char buffer[64];
  while (::read(fds_[0], buffer, sizeof buffer) > 0) {
  }
}

SharedLog::SharedLog(std::string conninfo, NoteSigner& signer, std::string origin, Options options)
    : conninfo_(std::move(conninfo)), signer_(signer), origin_(std::move(origin)), options_(std::move(options)) {
  acknowledger_ = std::thread([this] { acknowledge_loop(); });
  candidate_ = std::thread([this] { candidate_loop(); });
}

SharedLog::~SharedLog() { stop(); }

std::future<Receipt> SharedLog::submit(std::string entry) {
  Pending pending{std::move(entry), {}};
  std::future<Receipt> future = pending.promise.get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw Error(ErrorKind::unavailable, "the log is shutting down");
    pending_.push_back(std::move(pending));
  }
  ack_wake_.wake();
  return future;
}

void SharedLog::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ack_wake_.wake();
  if (acknowledger_.joinable()) acknowledger_.join();  // every entry answered
  {
    std::lock_guard lock(mutex_);
    stop_leading_ = true;
  }
  stopped_.notify_all();
  lead_wake_.wake();
  if (candidate_.joinable()) candidate_.join();
}

bool SharedLog::leading() const {
  std::lock_guard lock(mutex_);
  return leading_;
}

Sequencer::Stats SharedLog::stats() const {
  std::lock_guard lock(mutex_);
  Sequencer::Stats stats = past_terms_;
  if (sequencer_) {
    const Sequencer::Stats current = sequencer_->stats();
    stats.batches += current.batches;
    stats.entries += current.entries;
    stats.signing_failures += current.signing_failures;
  }
  return stats;
}

void SharedLog::report_signed(std::uint64_t size, const std::string& note) {
  {
    std::lock_guard lock(mutex_);
    if (size <= reported_size_) return;
    reported_size_ = size;
  }
  if (options_.on_signed) options_.on_signed(size, note);
}

// --- the acknowledger -------------------------------------------------------------------------

void SharedLog::acknowledge_loop() {
  std::unique_ptr<LogQueue> queue;
  while (true) {
    std::vector<Pending> batch;
    bool stopping = false;
    {
      std::lock_guard lock(mutex_);
      while (!pending_.empty() && batch.size() < kEnqueueChunk) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
      stopping = stopping_ && pending_.empty();
    }
    if (stopping && batch.empty() && awaiting_.empty()) return;
    try {
      if (!queue) queue = std::make_unique<LogQueue>(conninfo_, kLogSignedChannel);
      if (!batch.empty()) {
        std::vector<std::string> entries;
        entries.reserve(batch.size());
        for (const Pending& pending : batch) entries.push_back(pending.entry);
        const std::vector<std::int64_t> ids = queue->enqueue(entries);
        const Clock::time_point deadline = Clock::now() + options_.ack_timeout;
        for (std::size_t i = 0; i < batch.size(); ++i) {
          awaiting_.emplace(ids[i], Awaiting{std::move(batch[i].promise), deadline, std::nullopt});
        }
        batch.clear();
      }
      settle(*queue);
      time_out(*queue);
      queue->wait(awaiting_.empty() ? kIdlePoll : kAckPoll, ack_wake_.fd());
      ack_wake_.drain();
    } catch (...) {
      // Entries not queued were rolled back with the transaction: their callers hear why.
      const std::exception_ptr error = std::current_exception();
      for (Pending& pending : batch) pending.promise.set_exception(error);
      spdlog::warn("shared log: {}", what_of(error));
      if (!queue) {
        std::unique_lock lock(mutex_);
        stopped_.wait_for(lock, kErrorPause);
        continue;
      }
      try {
        time_out(*queue);
      } catch (...) {
      }
      std::unique_lock lock(mutex_);
      stopped_.wait_for(lock, kErrorPause);
    }
  }
}

// Answers every caller whose entry is placed and covered by the newest signed checkpoint.
void SharedLog::settle(LogQueue& queue) {
  const auto head = queue.signed_head();
  if (head) report_signed(head->size, head->note);
  if (awaiting_.empty()) return;
  std::vector<std::int64_t> ids;
  ids.reserve(awaiting_.size());
  for (const auto& [id, awaiting] : awaiting_) ids.push_back(id);
  std::vector<std::int64_t> answered;
  for (const LogQueue::Placed& placed : queue.placed(ids)) {
    const auto found = awaiting_.find(placed.id);
    if (found == awaiting_.end()) continue;
    found->second.index = placed.index;
    if (!head || placed.index >= head->size) continue;  // placed, not yet signed
    found->second.promise.set_value(Receipt{placed.index, head->size, head->note});
    awaiting_.erase(found);
    answered.push_back(placed.id);
  }
  queue.forget(answered);
}

// Gives up on entries past their deadline: one still waiting is withdrawn, so it never enters
// the log; one placed but not yet signed is in the log for good (UnsignedEntry).
void SharedLog::time_out(LogQueue& queue) {
  const Clock::time_point now = Clock::now();
  std::vector<std::int64_t> answered;
  for (auto it = awaiting_.begin(); it != awaiting_.end();) {
    Awaiting& awaiting = it->second;
    if (awaiting.deadline > now) {
      ++it;
      continue;
    }
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(options_.ack_timeout).count();
    if (awaiting.index) {
      awaiting.promise.set_exception(std::make_exception_ptr(UnsignedEntry(
          *awaiting.index, "no signed checkpoint covered it within " + std::to_string(seconds) + " s")));
    } else if (queue.withdraw(it->first)) {
      awaiting.promise.set_exception(std::make_exception_ptr(Error(
          ErrorKind::unavailable, "no node sequenced the entry within " + std::to_string(seconds) + " s")));
    } else {
      ++it;  // placed just now: the next settle() sees where
      continue;
    }
    answered.push_back(it->first);
    it = awaiting_.erase(it);
  }
  queue.forget(answered);
}

// --- the candidate ----------------------------------------------------------------------------

void SharedLog::candidate_loop() {
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stop_leading_) return;
    }
    try {
      lead(PostgresLogStorage::open_writer(conninfo_, std::chrono::milliseconds(1)));
    } catch (const Error& e) {
      // conflict: another node leads. Anything else: this node could not lead or was deposed.
      if (e.kind() != ErrorKind::conflict) spdlog::warn("shared log: not sequencing: {}", e.what());
    } catch (const std::exception& e) {
      spdlog::warn("shared log: not sequencing: {}", e.what());
    }
    std::unique_lock lock(mutex_);
    stopped_.wait_for(lock, options_.election_interval, [this] { return stop_leading_; });
  }
}

void SharedLog::lead(std::unique_ptr<PostgresLogStorage> writer) {
  // The previous leader can no longer commit (the epoch moved): what is stored now is final.
  auto nodes = PostgresLogStorage::open(conninfo_, false);
  CheckedTree checked = check_stored_tree(*writer, *nodes, origin_, signer_.verifier(), false);
  if (checked.unsigned_tail) {
    // The previous leader stored a batch and died before signing it; sign it now, as a restart
    // does (the Sequencer retries if the token refuses).
    const std::uint64_t size = checked.tree.size();
    try {
      const std::string note = signer_.sign(audit::format_checkpoint(origin_, size, checked.tree.root()));
      writer->sign_checkpoint(size, note);
      checked.unsigned_tail = false;
      report_signed(size, note);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::conflict) throw;
      spdlog::warn("shared log: the stored tail of size {} is not signed yet: {}", size, e.what());
    }
  }
  spdlog::info("shared log: sequencing from size {} (writer epoch {})", checked.tree.size(), writer->epoch());

  Sequencer sequencer(*writer, signer_, origin_, std::move(checked.tree), checked.unsigned_tail,
                      Sequencer::Options{options_.max_batch, [this](std::uint64_t size, const std::string& note) {
                                           report_signed(size, note);
                                           lead_wake_.wake();
                                         }});
  {
    std::lock_guard lock(mutex_);
    leading_ = true;
    sequencer_ = &sequencer;
  }
  const auto step_down = [&] {
    sequencer.stop();
    std::lock_guard lock(mutex_);
    const Sequencer::Stats term = sequencer.stats();
    past_terms_.batches += term.batches;
    past_terms_.entries += term.entries;
    past_terms_.signing_failures += term.signing_failures;
    leading_ = false;
    sequencer_ = nullptr;
  };
  try {
    LogQueue queue(conninfo_, kLogQueueChannel);
    std::map<std::int64_t, std::future<Receipt>> in_flight;
    while (true) {
      {
        std::lock_guard lock(mutex_);
        if (stop_leading_) break;
      }
      for (auto it = in_flight.begin(); it != in_flight.end();) {
        if (it->second.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
          ++it;
          continue;
        }
        try {
          it->second.get();
        } catch (const Error& e) {
          // Fenced: another node leads now. Other failures leave the row waiting (the next read
          // hands it over again) or placed (UnsignedEntry: the sequencer signs it later).
          if (e.kind() == ErrorKind::conflict) throw;
        }
        it = in_flight.erase(it);
      }
      if (in_flight.size() < options_.max_batch) {
        std::vector<std::int64_t> skip;
        skip.reserve(in_flight.size());
        for (const auto& [id, future] : in_flight) skip.push_back(id);
        for (LogQueue::Waiting& row : queue.waiting(options_.max_batch - in_flight.size(), skip)) {
          in_flight.emplace(row.id, sequencer.submit(std::move(row.data), row.id));
        }
      }
      queue.wait(kLeaderPoll, lead_wake_.fd());
      lead_wake_.drain();
    }
  } catch (...) {
    step_down();
    throw;
  }
  step_down();
}

}  // namespace escrowless::keyservice
