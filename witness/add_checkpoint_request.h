// The request body of C2SP tlog-witness add-checkpoint (https://c2sp.org/tlog-witness):
//   old <size>\n
//   <base64 hash>\n          zero to 63 consistency proof lines
//   \n
//   <signed checkpoint note>
// Parsing checks the framing only; what the lines mean (the note's signatures, whether the
// proof verifies) is the witness's to judge (witness.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audit/hash.h"

namespace escrowless::witness {

// The spec: "The client MUST NOT send more than 63 consistency proof lines."
inline constexpr std::size_t kMaxProofLines = 63;

// A whole request: the old size line, 63 proof lines and a checkpoint with up to 100
// signatures (audit::kMaxNoteSignatures) fit in a few KiB; more is not a request.
inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;

struct AddCheckpointRequest {
  uint64_t old_size = 0;
  std::vector<audit::Hash> proof;
  std::string checkpoint;  // the signed note, as sent
};

// Throws audit::Error(invalid_input) naming the first fault: no "old " line, a size that is not
// canonical decimal, a proof line that is not strict base64 of 32 bytes, more than 63 of them,
// no blank line, nothing after it, or a body over kMaxRequestBytes.
AddCheckpointRequest parse_add_checkpoint(std::string_view body);

}  // namespace escrowless::witness
