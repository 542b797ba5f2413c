// What a verifying client (keyclient fetch, keyaudit verify|monitor) does with a witness policy:
// it accepts a checkpoint only with a quorum of valid cosignatures no older than a maximum age,
// and says which witnesses are missing and why. Built on witness_policy.h and cosignature.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "audit/witness_policy.h"

namespace escrowless::audit {

// "90", "90s", "15m", "2h", "7d" as seconds. Throws invalid_input otherwise (and for 0).
uint64_t parse_duration(std::string_view text);

// Reads and parses a policy file. Throws invalid_input naming the file and the line at fault.
WitnessPolicy load_witness_policy(const std::string& path);

// Checks the cosignatures of `signed_note` (a checkpoint already verified under the log's key)
// against `policy` at `now` (POSIX seconds). Returns normally when the quorum is met; otherwise
// throws Error(mismatch): "no quorum of witness cosignatures: <w> (no cosignature), <w>
// (cosigned at <UTC time>, older than the maximum age of <N> s), ...". A cosignature that does
// not verify also throws mismatch, naming the witness: a witness key signing something else is a
// finding, not an absence. Throws invalid_input for a malformed note or cosignature.
void require_quorum(const WitnessPolicy& policy, std::string_view signed_note, uint64_t now, uint64_t max_age_seconds);

}  // namespace escrowless::audit
