#include "witness/witness.h"

#include <algorithm>
#include <set>

#include "audit/checkpoint.h"
#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/hash.h"
#include "audit/note.h"
#include "audit/proof_verify.h"
#include "witness/add_checkpoint_request.h"

namespace escrowless::witness {
namespace {

constexpr std::string_view kText = "text/plain; charset=utf-8";

Reply text(int status, const std::string& message) { return {status, std::string(kText), message + "\n"}; }

}  // namespace

std::vector<WitnessedLog> parse_witnessed_logs(const std::vector<std::string>& entries) {
  std::vector<WitnessedLog> logs;
  for (const std::string& entry : entries) {
    const std::size_t space = entry.find(' ');
    if (space == std::string::npos || space == 0 || entry.find(' ', space + 1) != std::string::npos) {
      throw audit::invalid_input("log \"" + entry.substr(0, 200) + "\": expected \"<origin> <verifier key>\"");
    }
    const std::string origin = entry.substr(0, space);
    audit::VerifierKey key = [&] {
      try {
        return audit::parse_verifier_key(std::string_view(entry).substr(space + 1));
      } catch (const audit::Error& e) {
        throw audit::invalid_input("log " + origin + ": " + e.what());
      }
    }();
    const auto found = std::find_if(logs.begin(), logs.end(), [&](const WitnessedLog& l) { return l.origin == origin; });
    if (found == logs.end()) {
      logs.push_back({origin, {std::move(key)}});
    } else {
      found->keys.push_back(std::move(key));
    }
  }
  return logs;
}

Witness::Witness(audit::CosignerKey key, audit::Ed25519Signer sign, WitnessState& state,
                 std::vector<WitnessedLog> logs, Clock clock)
    : key_(std::move(key)), sign_(std::move(sign)), state_(state), logs_(std::move(logs)), clock_(std::move(clock)) {
  std::set<std::string> origins;
  for (const WitnessedLog& log : logs_) {
    if (!origins.insert(log.origin).second) throw audit::invalid_input("log " + log.origin + " is configured twice");
    if (log.keys.empty()) throw audit::invalid_input("log " + log.origin + " has no verifier key");
    std::set<std::pair<std::string, uint32_t>> ids;
    for (const audit::VerifierKey& k : log.keys) {
      if (!ids.insert({k.name(), k.key_id()}).second) {
        throw audit::invalid_input("log " + log.origin + ": verifier key " + k.to_string() + " is configured twice");
      }
    }
  }
}

const WitnessedLog* Witness::find_log(std::string_view origin) const {
  for (const WitnessedLog& log : logs_) {
    if (log.origin == origin) return &log;
  }
  return nullptr;
}

Reply Witness::add_checkpoint(std::string_view body) {
  AddCheckpointRequest request;
  audit::Note note;
  audit::Checkpoint checkpoint;
  try {
    request = parse_add_checkpoint(body);
    note = audit::parse_note(request.checkpoint);
    checkpoint = audit::parse_checkpoint(note.text);
  } catch (const audit::Error& e) {
    return text(400, e.what());
  }
  const WitnessedLog* log = find_log(checkpoint.origin);
  if (!log) return text(404, "unknown log origin");
  audit::VerifiedNote verified;
  try {
    verified = audit::verify_note(request.checkpoint, log->keys);
  } catch (const audit::Error& e) {
    // The note parsed, so what verify_note refuses is the log's signature: absent, malformed or wrong.
    return text(403, std::string("the checkpoint carries no valid signature of the log: ") + e.what());
  }
  if (request.old_size > checkpoint.size) {
    return text(400, "old size " + std::to_string(request.old_size) + " is larger than the checkpoint's size " +
                         std::to_string(checkpoint.size));
  }
  // What the spec rules out whatever this witness has seen.
  const auto refuse = [&](const std::string& why) {
    state_.record_refusal(checkpoint.origin, clock_(), 422, body);
    return text(422, why);
  };
  if (checkpoint.size == 0 && checkpoint.root != audit::empty_root()) {
    return refuse("a checkpoint of size 0 must carry the empty tree's root");
  }
  if (request.old_size == 0 && !request.proof.empty()) {
    return refuse("a consistency proof from old size 0 must be empty");
  }

  // Only the log's verified signatures are kept with ours: the monitoring endpoint serves
  // what this witness checked, not whatever else the submitter attached.
  audit::Note kept{note.text, verified.verified};
  Reply reply;
  state_.advance(checkpoint.origin, [&](const std::optional<LogState>& stored) -> std::optional<LogState> {
    const uint64_t stored_size = stored ? stored->size : 0;
    if (request.old_size != stored_size) {
      reply = {409, std::string(kSizeContentType), std::to_string(stored_size) + "\n"};
      return std::nullopt;
    }
    if (request.old_size == checkpoint.size) {
      // Nothing new: the same tree again (cosigned afresh), or a second tree of one size.
      if (stored && stored->root != checkpoint.root) {
        reply = text(422, "size " + std::to_string(checkpoint.size) + " was cosigned with root " +
                              audit::to_base64(stored->root) + ", not " + audit::to_base64(checkpoint.root));
        return std::nullopt;
      }
      if (!request.proof.empty()) {
        reply = text(422, "the consistency proof between equal sizes must be empty");
        return std::nullopt;
      }
    } else if (request.old_size > 0) {
      try {
        audit::verify_consistency(request.old_size, checkpoint.size, stored->root, checkpoint.root, request.proof);
      } catch (const audit::Error& e) {
        reply = text(422, std::string("the consistency proof does not verify: ") + e.what());
        return std::nullopt;
      }
    }
    // Never behind a cosignature already given for this log, should the clock step back.
    const uint64_t timestamp = std::max<uint64_t>({clock_(), stored ? stored->timestamp : 0, 1});
    const std::string line = audit::cosignature_line(key_, note.text, timestamp, sign_);
    reply = text(200, "");
    reply.body = line;
    return LogState{checkpoint.size, checkpoint.root, audit::append_signature(kept, line), timestamp};
  });
  if (reply.status == 422) return refuse(reply.body.substr(0, reply.body.size() - 1));
  return reply;
}

std::optional<std::string> Witness::latest_checkpoint(std::string_view origin_sha256_hex) {
  for (const WitnessedLog& log : logs_) {
    if (audit::hex_encode(audit::sha256(log.origin)) != origin_sha256_hex) continue;
    const std::optional<LogState> state = state_.get(log.origin);
    if (!state) return std::nullopt;
    return state->checkpoint;
  }
  return std::nullopt;
}

}  // namespace escrowless::witness
