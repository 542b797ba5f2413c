// The witness: C2SP tlog-witness add-checkpoint (https://c2sp.org/tlog-witness, as of C2SP commit
// 95978ca, 2026-07-06) with C2SP tlog-cosignature cosignature/v1 cosignatures. HTTP-free: it
// takes a request body and returns the status, content type and body the spec prescribes, so
// the routes (witness_routes.h) only move bytes.
//
// The checks, in order (each answer is what the spec requires):
//   400  a malformed body, note or checkpoint; old size > checkpoint size
//   404  an origin this witness is not configured for
//   403  no signature from the log's configured key(s), or one from such a key that fails
//   422  size 0 with a root other than the empty tree's; old size 0 with a proof
//   409  old size differs from the size of the latest checkpoint cosigned (body: that size)
//   422  equal sizes with another root; a consistency proof that does not verify
//   200  the cosignature line(s), after the new state is committed
// A validly signed checkpoint refused with 422 is kept as evidence (WitnessState::record_refusal).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/cosignature.h"
#include "audit/verifier_key.h"
#include "witness/witness_state.h"

namespace escrowless::witness {

struct WitnessedLog {
  std::string origin;
  std::vector<audit::VerifierKey> keys;  // the log's note keys; one valid signature suffices
};

struct Reply {
  int status = 200;
  std::string content_type;
  std::string body;
};

// The content type of a 409's body, from the spec.
inline constexpr std::string_view kSizeContentType = "text/x.tlog.size";

class Witness {
 public:
  using Clock = std::function<uint64_t()>;  // POSIX seconds

  // Requires distinct origins (Error(invalid_input) otherwise). `sign` is the Ed25519 signer of
  // `key` (in a token); every cosignature it makes is verified before it is handed out.
  Witness(audit::CosignerKey key, audit::Ed25519Signer sign, WitnessState& state, std::vector<WitnessedLog> logs,
          Clock clock);

  // Never throws for anything a client sends; throws for the witness's own faults (the token
  // or the state file unavailable), which the server answers 503/500.
  Reply add_checkpoint(std::string_view body);

  // The latest cosigned checkpoint of the log whose origin's SHA-256 is `origin_sha256_hex`
  // (lowercase hex, the spec's monitoring path), or nullopt when there is none.
  std::optional<std::string> latest_checkpoint(std::string_view origin_sha256_hex);

  const audit::CosignerKey& key() const { return key_; }
  const std::vector<WitnessedLog>& logs() const { return logs_; }

 private:
  const WitnessedLog* find_log(std::string_view origin) const;

  audit::CosignerKey key_;
  audit::Ed25519Signer sign_;
  WitnessState& state_;
  std::vector<WitnessedLog> logs_;
  Clock clock_;
};

// "<origin> <vkey>" as the config file names a witnessed log; lines with the same origin add
// keys to one log. Throws audit::Error(invalid_input) naming the entry at fault.
std::vector<WitnessedLog> parse_witnessed_logs(const std::vector<std::string>& entries);

}  // namespace escrowless::witness
