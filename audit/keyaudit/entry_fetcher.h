// Fetches a range of log entries ahead of the consumer on a few threads, each over its own
// connection, in chunks of `batch` entries, and hands the chunks over in order. What one chunk is
// (a GET /v1/log/entries page, a tlog-tiles entry bundle with its hash tile) is the ChunkReader's
// business; the fetcher hashes nothing itself but parses entries when asked, off the consumer's
// thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "audit/client/https_client.h"
#include "audit/hash.h"
#include "audit/log_entry.h"

namespace escrowless::keyaudit {

// Makes the connections (one for the checkpoint and proofs, one per fetching thread).
using ClientFactory = std::function<std::unique_ptr<audit::client::HttpsClient>()>;

// What a source served does not verify (a tile that does not match its entries, a malformed
// bundle): a finding about the log's mirror, reported as a violation, not a network error.
class ServedDataMismatch : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Chunk {
  uint64_t start = 0;
  std::vector<std::vector<uint8_t>> entries;
  std::vector<audit::Hash> leaf_hashes;                // hashed on a fetching thread
  std::vector<std::optional<audit::LogEntry>> parsed;  // parse only
  std::vector<std::string> parse_errors;
  std::optional<audit::Hash> tile_root;                // tiles: MTH of a full level-0 tile
};

// Reads the chunk of `count` entries from `start` over `client`. Throws FetchError (network,
// server) or ServedDataMismatch.
using ChunkReader = std::function<Chunk(const audit::client::HttpsClient& client, uint64_t start, uint64_t count)>;

struct FetcherOptions {
  uint64_t batch = 1000;
  unsigned threads = 2;
  uint64_t ahead = 8;  // chunks fetched ahead of the consumer: both sides busy, little memory
  bool parse = false;
};

class Fetcher {
 public:
  // Fetches [from, to) in chunks of options.batch (the first starting at `from`).
  Fetcher(const ClientFactory& connect, uint64_t from, uint64_t to, const FetcherOptions& options, ChunkReader read);
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // The next chunk in order; nullopt at the end. Rethrows a fetching thread's error.
  std::optional<Chunk> next();

 private:
  void run(const audit::client::HttpsClient& client);

  const uint64_t from_, to_;
  const FetcherOptions options_;
  const ChunkReader read_;
  const uint64_t chunks_;
  std::vector<std::unique_ptr<audit::client::HttpsClient>> clients_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, Chunk> ready_;  // by chunk number
  uint64_t claimed_ = 0;             // chunks taken by a fetching thread
  uint64_t consumed_ = 0;            // chunks handed to the consumer
  bool stopping_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;  // last: they start once everything above exists
};

}  // namespace escrowless::keyaudit
