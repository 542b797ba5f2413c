#include "audit/keyaudit/log_sync.h"

#include <chrono>
#include <stdexcept>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/merkle.h"
#include "audit/proof_verify.h"
#include "audit/keyaudit/tile_sync.h"
#include "audit/tile_coords.h"
#include "audit/witness_quorum.h"

namespace escrowless::keyaudit {
namespace {

using audit::client::FetchError;

// Tiles are small requests (256 entries): more of them in flight keep the fetchers busy.
constexpr uint64_t kTileChunksAhead = 32;

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

// A page of GET /v1/log/entries, leaf hashes computed.
Chunk read_api_chunk(const audit::client::HttpsClient& client, uint64_t start, uint64_t count) {
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
  return chunk;
}

audit::Violation log_violation(std::string rule, std::string message) {
  return {std::nullopt, std::move(rule), std::move(message)};
}

// Fetches [from, checkpoint.size), appends each leaf to `tree` and hands each entry to
// `on_entry`; from tiles, reads whole level-0 tiles (skipping the entries before `from`) and
// checks the hash tiles.
void fetch_entries(const ClientFactory& connect, const audit::client::HttpsClient& client, uint64_t from,
                   const audit::Checkpoint& checkpoint, audit::CompactTree& tree, SyncResult& result,
                   const EntryCallback& on_entry, const SyncOptions& options) {
  FetcherOptions fetching{options.batch, options.fetchers, 8, options.parse};
  uint64_t first = from;
  ChunkReader read = read_api_chunk;
  if (options.tiles) {
    fetching.batch = audit::kTileWidth;
    fetching.ahead = kTileChunksAhead;
    first = from - from % audit::kTileWidth;
    read = tile_chunk_reader(checkpoint.size);
  }
  Level0Tiles level0;
  Fetcher fetcher(connect, first, checkpoint.size, fetching, std::move(read));
  while (auto chunk = fetcher.next()) {
    if (chunk->tile_root) level0.full_roots.emplace(chunk->start / audit::kTileWidth, *chunk->tile_root);
    if (options.tiles && chunk->entries.size() < audit::kTileWidth) {
      level0.edge_index = chunk->start / audit::kTileWidth;
      level0.edge = chunk->leaf_hashes;
    }
    for (std::size_t i = 0; i < chunk->entries.size(); ++i) {
      if (chunk->start + i < from) continue;  // seen by the last run; checked against its tile only
      tree.append(chunk->leaf_hashes[i]);
      if (options.record_roots.contains(tree.size())) result.roots.emplace(tree.size(), tree.root());
      FetchedEntry entry{chunk->start + i, chunk->entries[i], nullptr, {}};
      if (options.parse) {
        entry.parsed = chunk->parsed[i] ? &*chunk->parsed[i] : nullptr;
        entry.parse_error = chunk->parse_errors[i];
      }
      on_entry(entry);
      ++result.fetched;
    }
    if (options.progress) options.progress(result.fetched, checkpoint.size - from);
  }
  if (options.tiles) check_hash_tiles(client, from, checkpoint.size, checkpoint.root, level0);
}

}  // namespace

std::vector<audit::Hash> fetch_consistency_proof(const audit::client::HttpsClient& client, uint64_t from, uint64_t to) {
  const std::string path = "/v1/log/proof/consistency?from=" + std::to_string(from) + "&to=" + std::to_string(to);
  return proof_of(parse_json(client.get(path), "GET " + path), "GET " + path);
}

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
  result.checkpoint_note = client.get(options.tiles ? "/checkpoint" : "/v1/log/checkpoint");
  const audit::VerifierKey keys[] = {verifier};
  try {
    result.checkpoint = audit::open_checkpoint(result.checkpoint_note, verifier.name(), keys);
  } catch (const audit::Error& e) {
    result.violations.push_back(log_violation("checkpoint", std::string("the server's checkpoint does not verify under the verifier key: ") + e.what()));
    return result;
  }
  const audit::Checkpoint& checkpoint = result.checkpoint;
  if (options.witness_policy) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    try {
      audit::require_quorum(*options.witness_policy, result.checkpoint_note, static_cast<uint64_t>(now.count()), options.max_age);
    } catch (const audit::Error& e) {
      result.violations.push_back(log_violation("witnesses", std::string("the checkpoint of size ") +
                                                                  std::to_string(checkpoint.size) + ": " + e.what()));
      return result;
    }
  }
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
  // From tiles, recomputing the new root from the saved frontier below proves the consistency.
  if (!options.tiles && previous.size > 0 && checkpoint.size > previous.size) {
    const auto proof = fetch_consistency_proof(client, previous.size, checkpoint.size);
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
    try {
      fetch_entries(connect, client, previous.size, checkpoint, tree, result, on_entry, options);
    } catch (const ServedDataMismatch& e) {
      result.violations.push_back(log_violation("tiles", e.what()));
      return result;
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
