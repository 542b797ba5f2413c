// What verify and monitor share: bring a verified view of the log up to date. Fetches the signed
// checkpoint and checks it under the pinned verifier key; against the tree saved by the last run,
// checks that the log only grew (a consistency proof, and the saved size and root); fetches the
// entries not yet seen, recomputes the root from the saved frontier and compares it with the
// checkpoint. Each new entry goes to a callback in index order while the next ones are fetched
// (and, optionally, parsed) by `fetchers` threads, each with its own connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/checkpoint.h"
#include "audit/client/https_client.h"
#include "audit/hash.h"
#include "audit/keyaudit/entry_fetcher.h"
#include "audit/log_entry.h"
#include "audit/verifier_key.h"
#include "audit/witness_policy.h"
#include "audit/violation.h"

namespace escrowless::keyaudit {

// The tree a run verified: its size and root, the compact frontier that lets the next run go on
// hashing from there, and the signed checkpoint it was checked against.
struct VerifiedTree {
  uint64_t size = 0;
  audit::Hash root = audit::empty_root();
  std::vector<audit::Hash> frontier;
  std::string checkpoint;  // the signed note; empty before the first run

  nlohmann::json to_json() const;
  // Throws std::runtime_error on a malformed value (the frontier must fit the size).
  static VerifiedTree from_json(const nlohmann::json& json);
};

struct SyncOptions {
  uint64_t batch = 1000;  // entries per request (the server's maximum)
  unsigned fetchers = 2;  // threads fetching requests ahead, each over its own connection
  bool parse = false;     // parse each entry on the fetching threads (FetchedEntry::parsed)
  // Read the log as C2SP tlog-tiles (the client's base path is the tiles prefix: <base>/checkpoint,
  // <base>/tile/...), checking every tile (tile_sync.h), instead of the /v1/log API.
  bool tiles = false;
  // With a policy, a checkpoint without a quorum of valid cosignatures no older than max_age
  // seconds is a [witnesses] violation (audit/witness_quorum.h), and nothing is fetched.
  const audit::WitnessPolicy* witness_policy = nullptr;
  uint64_t max_age = 86400;
  // Sizes whose roots to record (SyncResult::roots) as the new entries are hashed.
  std::set<uint64_t> record_roots;
  // Called now and then with (entries done, entries to do).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct SyncResult {
  audit::Checkpoint checkpoint;
  std::string checkpoint_note;
  uint64_t previous_size = 0;
  uint64_t fetched = 0;                  // new entries fetched and handed to the callback
  std::vector<audit::Violation> violations;  // about the log as a whole (index unset)
  std::optional<VerifiedTree> tree;      // set only when the checkpoint, consistency and root checked
  std::map<uint64_t, audit::Hash> roots;  // SyncOptions::record_roots met in (previous size, size]
};

// One entry: its index, the bytes as logged and, with SyncOptions::parse, parse_entry()'s result.
struct FetchedEntry {
  uint64_t index = 0;
  std::span<const uint8_t> bytes;
  const audit::LogEntry* parsed = nullptr;  // null without parse, or when the entry does not parse
  std::string_view parse_error;             // why it does not parse (parse only)
};
using EntryCallback = std::function<void(const FetchedEntry&)>;

// GET /v1/log/proof/consistency?from=&to=. Throws FetchError.
std::vector<audit::Hash> fetch_consistency_proof(const audit::client::HttpsClient& client, uint64_t from, uint64_t to);

// Throws audit::client::FetchError when the server can't be asked or answers malformed data.
SyncResult sync_log(const ClientFactory& connect, const audit::VerifierKey& verifier,
                    const VerifiedTree& previous, const EntryCallback& on_entry, const SyncOptions& options);

}  // namespace escrowless::keyaudit
