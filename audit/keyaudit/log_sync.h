// What verify and monitor share: bring a verified view of the log up to date. Fetches the signed
// checkpoint and checks it under the pinned verifier key; against the tree saved by the last run,
// checks that the log only grew (a consistency proof, and the saved size and root); fetches the
// entries not yet seen, recomputes the root from the saved frontier and compares it with the
// checkpoint. Each new entry goes to a callback in index order while the next ones are fetched.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/checkpoint.h"
#include "audit/client/https_client.h"
#include "audit/hash.h"
#include "audit/verifier_key.h"
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
};

// One entry: its index and the bytes as logged.
using EntryCallback = std::function<void(uint64_t index, std::span<const uint8_t> bytes)>;

// Throws audit::client::FetchError when the server can't be asked or answers malformed data.
SyncResult sync_log(const audit::client::HttpsClient& client, const audit::VerifierKey& verifier,
                    const VerifiedTree& previous, const EntryCallback& on_entry, const SyncOptions& options);

}  // namespace escrowless::keyaudit
