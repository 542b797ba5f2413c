// C2SP signed notes (https://c2sp.org/signed-note): text ending in a newline, a blank line,
// then one or more signature lines "— <key name> <base64(4-byte key id || signature)>\n".
//
// The verifier side parses and checks; the signer side (the server, whose key never leaves the
// HSM) gets the exact bytes to sign and formats what the token returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audit/verifier_key.h"

namespace escrowless::audit {

// The spec says verifiers MUST accept at least 16 signatures and SHOULD bound the number;
// Go's golang.org/x/mod/sumdb/note stops at 100, and so do we.
inline constexpr std::size_t kMaxNoteSignatures = 100;

struct NoteSignature {
  std::string name;
  uint32_t key_id = 0;
  std::vector<uint8_t> signature;  // the bytes after the key id

  friend bool operator==(const NoteSignature&, const NoteSignature&) = default;
};

struct Note {
  std::string text;  // what was signed, including its final newline
  std::vector<NoteSignature> signatures;
};

// Parses the syntax of a signed note; checks no signature. Strict, per the spec: the whole note
// valid UTF-8 with no control character but newline; text non-empty and separated from the
// signatures by the last blank line; each signature line with the em dash prefix, a valid key
// name, one space, strict base64 of at least 5 bytes, and a final newline; at most
// kMaxNoteSignatures lines. Throws invalid_input naming the offending part otherwise.
Note parse_note(std::string_view note);

// The outcome of a successful verify_note.
struct VerifiedNote {
  std::string text;
  std::vector<NoteSignature> verified;    // signatures from the given keys, all checked
  std::vector<NoteSignature> unverified;  // signatures from other keys, ignored as the spec says
};

// Parses `note` and checks it against `verifiers`. A signature is from a known key when both
// its name and key id match one verifier (the spec: unknown keys are ignored "even if they
// share a name or ID (but not both) with a known key"). Every signature from a known key must
// verify, and at least one must exist.
// Throws invalid_input for a malformed note, a malformed signature from a known key, or a
// verifier list holding the same name and key id twice; mismatch for a known-key signature that
// does not verify, or when no signature is from a known key.
VerifiedNote verify_note(std::string_view note, std::span<const VerifierKey> verifiers);

// The exact bytes a signer signs: the note text itself (for Ed25519 pure signing; for ECDSA the
// signer hashes them with SHA-256 and signs the digest). Requires non-empty text ending in a
// newline, valid UTF-8, no control character but newline; throws invalid_input otherwise.
std::vector<uint8_t> note_signed_message(std::string_view text);

// One signature line, including its final newline: "— <name> <base64(key id || signature)>\n".
// For ECDSA keys pass the DER signature (see ecdsa_signature_raw_to_der). Requires a valid key
// name and a non-empty signature; throws invalid_input otherwise.
std::string format_signature_line(std::string_view name, uint32_t key_id,
                                  std::span<const uint8_t> signature);

// The signed note made of `text` and one signature line (as format_signature_line returns it).
// Validates both; throws invalid_input otherwise.
std::string append_signature(std::string_view text, std::string_view line);

// Adds a signature line to an already signed note (a cosignature), keeping the others.
std::string append_signature(const Note& note, std::string_view line);

// Serialises a note: text, blank line, one line per signature. Requires what parse_note checks.
std::string format_note(const Note& note);

}  // namespace escrowless::audit
