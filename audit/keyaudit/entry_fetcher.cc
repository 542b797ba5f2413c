#include "audit/keyaudit/entry_fetcher.h"

#include <algorithm>

#include "audit/error.h"

namespace escrowless::keyaudit {

Fetcher::Fetcher(const ClientFactory& connect, uint64_t from, uint64_t to, const FetcherOptions& options, ChunkReader read)
    : from_(from), to_(to), options_(options), read_(std::move(read)),
      chunks_((to - from + options.batch - 1) / options.batch) {
  const unsigned threads =
      std::max(1U, std::min<unsigned>(options.threads, static_cast<unsigned>(std::min<uint64_t>(chunks_, 64))));
  for (unsigned i = 0; i < threads; ++i) clients_.push_back(connect());
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this, i] { run(*clients_[i]); });
}

Fetcher::~Fetcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

std::optional<Chunk> Fetcher::next() {
  std::unique_lock lock(mutex_);
  if (consumed_ == chunks_) return std::nullopt;
  changed_.wait(lock, [&] { return ready_.contains(consumed_) || error_; });
  if (error_) std::rethrow_exception(error_);
  auto found = ready_.find(consumed_);
  Chunk chunk = std::move(found->second);
  ready_.erase(found);
  ++consumed_;
  changed_.notify_all();
  return chunk;
}

void Fetcher::run(const audit::client::HttpsClient& client) {
  try {
    for (;;) {
      uint64_t number = 0;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] {
          return stopping_ || error_ || claimed_ == chunks_ || claimed_ < consumed_ + options_.ahead;
        });
        if (stopping_ || error_ || claimed_ == chunks_) return;
        number = claimed_++;
      }
      const uint64_t start = from_ + number * options_.batch;
      Chunk chunk = read_(client, start, std::min(options_.batch, to_ - start));
      if (options_.parse) {
        chunk.parsed.resize(chunk.entries.size());
        chunk.parse_errors.resize(chunk.entries.size());
        for (std::size_t i = 0; i < chunk.entries.size(); ++i) {
          try {
            chunk.parsed[i].emplace(audit::parse_entry(chunk.entries[i]));
          } catch (const audit::Error& e) {
            chunk.parse_errors[i] = e.what();
          }
        }
      }
      std::lock_guard lock(mutex_);
      ready_.emplace(number, std::move(chunk));
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = std::current_exception();
    changed_.notify_all();
  }
}

}  // namespace escrowless::keyaudit
