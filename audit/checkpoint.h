// C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the note text of a signed tree head.
//   <origin>\n<tree size>\n<base64 root hash>\n[<extension line>\n ...]
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audit/hash.h"
#include "audit/verifier_key.h"

namespace escrowless::audit {

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Hash root{};
  std::vector<std::string> extensions;  // opaque, non-empty lines, without their newlines

  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

// Parses checkpoint note text (the text of a signed note, not the signatures). Strict: every
// line ends in a newline; a non-empty origin; the size in ASCII decimal with no sign, no
// leading zeros (except "0") and within 64 bits; the root as strict base64 of 32 bytes;
// extension lines non-empty; the text valid UTF-8 without control characters but newline.
// Throws invalid_input naming the offending line otherwise.
Checkpoint parse_checkpoint(std::string_view text);

// The checkpoint note text, ready for note_signed_message(). Throws invalid_input if the origin
// is empty or any line holds a newline or other control character, or an extension is empty.
std::string format_checkpoint(std::string_view origin, uint64_t size, const Hash& root,
                              std::span<const std::string> extensions = {});
std::string format_checkpoint(const Checkpoint& checkpoint);

// Verifies a signed checkpoint note against `verifiers` (as verify_note does) and parses it;
// throws mismatch if its origin is not `expected_origin`, since a valid signature over another
// log's checkpoint proves nothing about this log.
Checkpoint open_checkpoint(std::string_view signed_note, std::string_view expected_origin,
                           std::span<const VerifierKey> verifiers);

}  // namespace escrowless::audit
