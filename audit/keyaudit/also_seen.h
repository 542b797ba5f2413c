// keyaudit verify --also-seen: checkpoints of this log published elsewhere (a witness's cosigned
// checkpoint, another auditor's keyaudit state file) compared with the tree this run verified.
// Two signed trees of one size with different roots, or a signed checkpoint the verified tree is
// not consistent with, is a split view: the log showed different histories to different parties.
// The finding quotes both signed checkpoints, which together prove it to anyone with the key.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/checkpoint.h"
#include "audit/hash.h"
#include "audit/verifier_key.h"
#include "audit/violation.h"

namespace escrowless::keyaudit {

struct SeenCheckpoint {
  std::string file;
  std::string note;  // the signed note as published
  audit::Checkpoint checkpoint;
};

// Reads each file: a signed checkpoint note, or a keyaudit state file (its tree.checkpoint).
// Throws UsageError (commands.h) for a file that can't be read or whose checkpoint does not
// verify under `verifier`: a note the log did not sign proves nothing about it.
std::vector<SeenCheckpoint> load_seen(const std::vector<std::string>& files, const audit::VerifierKey& verifier);

// What the run verified: its checkpoint, and the roots of the sizes it passed through (the sizes
// of the seen checkpoints, recorded while the entries were hashed).
struct VerifiedView {
  std::string note;
  audit::Checkpoint checkpoint;
  std::map<uint64_t, audit::Hash> roots;
};

// A consistency proof from `from` to `to` from the log, or nullptr when the source has none (tiles).
using ConsistencyProofs = std::function<std::vector<audit::Hash>(uint64_t from, uint64_t to)>;

// The split_view violations, and one summary per file in `details` ({file, size, result}).
std::vector<audit::Violation> compare_seen(const std::vector<SeenCheckpoint>& seen, const VerifiedView& view,
                                           const ConsistencyProofs& proofs, nlohmann::json& details);

}  // namespace escrowless::keyaudit
