#include "audit/keyaudit/log_sync.h"

#include <condition_variable>
#include <algorithm>
#include <map>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/merkle.h"
#include "audit/proof_verify.h"

namespace escrowless::keyaudit {
namespace {

using audit::client::FetchError;

// Chunks fetched ahead of the consumer: enough to keep both sides busy, little memory.
constexpr uint64_t kChunksAhead = 8;

nlohmann::json parse_json(const std::string& body, const std::string& what) {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw FetchError(what + ": the server's answer is not JSON: " + e.what());
  }
}

std::vector<audit::Hash> proof_of(const nlohmann::json& body, const std::string& what) {
  try {
    std::vector<audit::Hash> proof;
    for (const auto& item : body.at("proof")) proof.push_back(audit::hash_from_base64(item.get<std::string>(), "proof hash"));
    return proof;
  } catch (const std::exception& e) {
    throw FetchError(what + ": malformed proof in the server's answer: " + e.what());
  }
}

struct Chunk {
  uint64_t start = 0;
  std::vector<std::vector<uint8_t>> entries;
  std::vector<audit::Hash> leaf_hashes;             // hashed on a fetching thread
  std::vector<std::optional<audit::LogEntry>> parsed;  // SyncOptions::parse only
  std::vector<std::string> parse_errors;
};

// Fetches [from, to) in requests of `batch` on `threads` threads (each its own connection), at
// most kChunksAhead chunks ahead of the consumer, handing chunks over in order.
class Fetcher {
 public:
  Fetcher(const ClientFactory& connect, uint64_t from, uint64_t to, const SyncOptions& options)
      : from_(from), to_(to), batch_(options.batch), parse_(options.parse),
        chunks_((to - from + options.batch - 1) / options.batch) {
    const unsigned threads = std::max(1U, std::min<unsigned>(options.fetchers, static_cast<unsigned>(std::min<uint64_t>(chunks_, 64))));
    for (unsigned i = 0; i < threads; ++i) clients_.push_back(connect());
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this, i] { run(*clients_[i]); });
  }
  ~Fetcher() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // The next chunk in order; nullopt at the end. Rethrows a fetching thread's error.
  std::optional<Chunk> next() {
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

 private:
  void run(const audit::client::HttpsClient& client) {
    try {
      for (;;) {
        uint64_t number = 0;
        {
          std::unique_lock lock(mutex_);
          changed_.wait(lock, [&] { return stopping_ || error_ || claimed_ == chunks_ || claimed_ < consumed_ + kChunksAhead; });
          if (stopping_ || error_ || claimed_ == chunks_) return;
          number = claimed_++;
        }
        const uint64_t start = from_ + number * batch_;
        Chunk chunk = fetch(client, start, std::min(batch_, to_ - start));
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

  Chunk fetch(const audit::client::HttpsClient& client, uint64_t start, uint64_t count) const {
    const std::string path = "/v1/log/entries?start=" + std::to_string(start) + "&count=" + std::to_string(count);
    const nlohmann::json body = parse_json(client.get(path), "GET " + path);
    Chunk chunk;
    chunk.start = start;
    try {
      const nlohmann::json& entries = body.at("entries");
      // The server serves every entry up to its newest signed size, which covers our checkpoint.
      if (entries.size() != count)
        throw FetchError("GET " + path + " answered " + std::to_string(entries.size()) + " entries");
      chunk.entries.reserve(count);
      chunk.leaf_hashes.reserve(count);
      uint64_t index = start;
      for (const nlohmann::json& entry : entries) {
        if (entry.at("index").get<uint64_t>() != index)
          throw FetchError("GET " + path + " answered entry " + entry.at("index").dump() + " where " +
                           std::to_string(index) + " belongs");
        chunk.entries.push_back(audit::base64_decode(entry.at("data").get_ref<const std::string&>()));
        chunk.leaf_hashes.push_back(audit::leaf_hash(chunk.entries.back()));
        ++index;
      }
    } catch (const FetchError&) {
      throw;
    } catch (const std::exception& e) {
      throw FetchError("GET " + path + ": malformed answer: " + e.what());
    }
    if (parse_) {
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
    return chunk;
  }

  const uint64_t from_, to_, batch_;
  const bool parse_;
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

audit::Violation log_violation(std::string rule, std::string message) {
  return {std::nullopt, std::move(rule), std::move(message)};
}

}  // namespace

nlohmann::json VerifiedTree::to_json() const {
  nlohmann::json nodes = nlohmann::json::array();
  for (const audit::Hash& hash : frontier) nodes.push_back(audit::to_base64(hash));
  return {{"size", size}, {"root", audit::to_base64(root)}, {"frontier", nodes}, {"checkpoint", checkpoint}};
}

VerifiedTree VerifiedTree::from_json(const nlohmann::json& json) {
  try {
    VerifiedTree tree;
    tree.size = json.at("size").get<uint64_t>();
    tree.root = audit::hash_from_base64(json.at("root").get<std::string>(), "root");
    for (const auto& item : json.at("frontier")) tree.frontier.push_back(audit::hash_from_base64(item.get<std::string>(), "frontier"));
    tree.checkpoint = json.at("checkpoint").get<std::string>();
    const audit::CompactTree check = audit::CompactTree::from_nodes(tree.size, tree.frontier);
    if (check.root() != tree.root) throw std::runtime_error("the saved frontier does not give the saved root");
    return tree;
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("malformed tree in the state file: ") + e.what());
  }
}

SyncResult sync_log(const ClientFactory& connect, const audit::VerifierKey& verifier,
                    const VerifiedTree& previous, const EntryCallback& on_entry, const SyncOptions& options) {
  const std::unique_ptr<audit::client::HttpsClient> connection = connect();
  const audit::client::HttpsClient& client = *connection;
  SyncResult result;
  result.previous_size = previous.size;
  result.checkpoint_note = client.get("/v1/log/checkpoint");
  const audit::VerifierKey keys[] = {verifier};
  try {
    result.checkpoint = audit::open_checkpoint(result.checkpoint_note, verifier.name(), keys);
  } catch (const audit::Error& e) {
    result.violations.push_back(log_violation("checkpoint", std::string("the server's checkpoint does not verify under the verifier key: ") + e.what()));
    return result;
  }
  const audit::Checkpoint& checkpoint = result.checkpoint;
  const std::string saved = "the checkpoint of size " + std::to_string(previous.size) + " saved by the last run";

  if (checkpoint.size < previous.size) {
    result.violations.push_back(log_violation("consistency", "the log shrank: the server's checkpoint has size " +
                                                                 std::to_string(checkpoint.size) + ", smaller than " + saved));
    return result;
  }
  if (previous.size > 0 && checkpoint.size == previous.size && checkpoint.root != previous.root) {
    result.violations.push_back(log_violation("consistency", "the log was rewritten: the server's checkpoint of size " +
                                                                 std::to_string(checkpoint.size) + " has root " +
                                                                 audit::to_base64(checkpoint.root) + ", not the root of " + saved +
                                                                 " (" + audit::to_base64(previous.root) + ")"));
    return result;
  }
  if (previous.size > 0 && checkpoint.size > previous.size) {
    const std::string path = "/v1/log/proof/consistency?from=" + std::to_string(previous.size) + "&to=" +
                             std::to_string(checkpoint.size);
    const auto proof = proof_of(parse_json(client.get(path), "GET " + path), "GET " + path);
    try {
      audit::verify_consistency(previous.size, checkpoint.size, previous.root, checkpoint.root, proof);
    } catch (const audit::Error& e) {
      result.violations.push_back(log_violation("consistency", "the log was rewritten: the server's checkpoint of size " +
                                                                   std::to_string(checkpoint.size) + " is not consistent with " +
                                                                   saved + ": " + e.what()));
      return result;
    }
  }

  audit::CompactTree tree = audit::CompactTree::from_nodes(previous.size, previous.frontier);
  const uint64_t total = checkpoint.size - previous.size;
  if (total > 0) {
    Fetcher fetcher(connect, previous.size, checkpoint.size, options);
    while (auto chunk = fetcher.next()) {
      for (std::size_t i = 0; i < chunk->entries.size(); ++i) {
        tree.append(chunk->leaf_hashes[i]);
        FetchedEntry entry{chunk->start + i, chunk->entries[i], nullptr, {}};
        if (options.parse) {
          entry.parsed = chunk->parsed[i] ? &*chunk->parsed[i] : nullptr;
          entry.parse_error = chunk->parse_errors[i];
        }
        on_entry(entry);
      }
      result.fetched += chunk->entries.size();
      if (options.progress) options.progress(result.fetched, total);
    }
  }
  if (tree.root() != checkpoint.root) {
    result.violations.push_back(log_violation("root", "the entries the server served hash to root " + audit::to_base64(tree.root()) +
                                                          ", not the checkpoint's root " + audit::to_base64(checkpoint.root)));
    return result;
  }
  result.tree = VerifiedTree{checkpoint.size, checkpoint.root, tree.nodes(), result.checkpoint_note};
  return result;
}

}  // namespace escrowless::keyaudit
