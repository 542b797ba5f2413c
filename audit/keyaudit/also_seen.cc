#include "audit/keyaudit/also_seen.h"

#include <fstream>
#include <sstream>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/keyaudit/commands.h"
#include "audit/proof_verify.h"

namespace escrowless::keyaudit {
namespace {

std::string quote_note(const std::string& note) {
  std::string quoted;
  std::istringstream lines(note);
  for (std::string line; std::getline(lines, line);) quoted += "\n    | " + line;
  return quoted;
}

}  // namespace

std::vector<SeenCheckpoint> load_seen(const std::vector<std::string>& files, const audit::VerifierKey& verifier) {
  std::vector<SeenCheckpoint> seen;
  const audit::VerifierKey keys[] = {verifier};
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw UsageError("--also-seen: cannot read " + file);
    std::stringstream text;
    text << in.rdbuf();
    std::string note = text.str();
    const auto json = nlohmann::json::parse(note, nullptr, false);
    if (json.is_object()) {  // a keyaudit state file
      if (!json.contains("tree") || !json["tree"].is_object() || !json["tree"].contains("checkpoint") ||
          !json["tree"]["checkpoint"].is_string())
        throw UsageError("--also-seen: " + file + " is JSON but not a keyaudit state file with a checkpoint");
      note = json["tree"]["checkpoint"].get<std::string>();
    }
    try {
      seen.push_back({file, note, audit::open_checkpoint(note, verifier.name(), keys)});
    } catch (const audit::Error& e) {
      throw UsageError("--also-seen: " + file + " holds no checkpoint of this log signed by its key: " + e.what());
    }
  }
  return seen;
}

std::vector<audit::Violation> compare_seen(const std::vector<SeenCheckpoint>& seen, const VerifiedView& view,
                                           const ConsistencyProofs& proofs, nlohmann::json& details) {
  std::vector<audit::Violation> found;
  const uint64_t size = view.checkpoint.size;
  const auto split = [&](const SeenCheckpoint& other, const std::string& what) {
    found.push_back({std::nullopt, "split_view",
                     "split view: " + what + ". Both checkpoints verify under the log's key; the log showed different "
                     "histories to different parties. This run's checkpoint:" + quote_note(view.note) +
                     "\n  " + other.file + ":" + quote_note(other.note)});
  };
  for (const SeenCheckpoint& other : seen) {
    const uint64_t other_size = other.checkpoint.size;
    std::string result;
    if (other_size > size) {
      result = "newer than the log's checkpoint (size " + std::to_string(size) + "): not compared";
    } else if (const auto root = view.roots.find(other_size); root != view.roots.end() || other_size == size) {
      const audit::Hash ours = other_size == size ? view.checkpoint.root : root->second;
      if (ours == other.checkpoint.root) {
        result = "consistent";
      } else {
        result = "split view";
        split(other, "the log signed two trees of size " + std::to_string(other_size) + ": root " +
                         audit::to_base64(ours) + " for this run and root " + audit::to_base64(other.checkpoint.root) +
                         " in " + other.file);
      }
    } else if (proofs) {
      try {
        audit::verify_consistency(other_size, size, other.checkpoint.root, view.checkpoint.root, proofs(other_size, size));
        result = "consistent";
      } catch (const audit::Error& e) {
        result = "split view";
        split(other, "the checkpoint of size " + std::to_string(other_size) + " in " + other.file +
                         " is not consistent with this run's checkpoint of size " + std::to_string(size) + ": " + e.what());
      }
    } else {
      result = "older than this run's first new entry and no consistency proofs from tiles: not compared "
               "(run without --state, or against the API)";
    }
    details.push_back({{"file", other.file}, {"size", other_size}, {"result", result}});
  }
  return found;
}

}  // namespace escrowless::keyaudit
