// Verifier keys (audit/verifier_key.h): the input is a vkey line, optionally followed by a signed
// note to check with that key, so mutated keys (other curves, odd SPKI, wrong lengths) meet real
// signatures. Properties: only invalid_input or mismatch come out; a parsed key prints back to the
// same string, and its key id is the one its type's rule computes.
#include <optional>
#include <string>

#include "audit/note.h"
#include "audit/verifier_key.h"
#include "tests/fuzz/fuzz_support.h"

using namespace escrowless;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);
  const std::size_t newline = input.find('\n');
  const std::string_view vkey = input.substr(0, newline);
  const std::string_view note = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  std::optional<audit::VerifierKey> parsed_key;
  try {
    parsed_key = audit::parse_verifier_key(vkey);
  } catch (const audit::Error& e) {
    fuzz::require_invalid_input(e);
    return 0;
  }
  const audit::VerifierKey& key = *parsed_key;
  fuzz::require(key.to_string() == vkey, "a parsed verifier key prints back to the same string");
  fuzz::require(audit::compute_key_id(key.name(), key.type(), key.public_key()) == key.key_id(),
                "the key id follows from name, type and key");
  fuzz::require(audit::format_verifier_key(key.name(), key.type(), key.public_key()) == vkey,
                "format_verifier_key gives the same string");
  if (note.empty()) return 0;
  try {
    const audit::Note parsed = audit::parse_note(note);
    const std::vector<uint8_t> message = audit::note_signed_message(parsed.text);
    for (const audit::NoteSignature& signature : parsed.signatures) {
      (void)key.verify(message, signature.signature);
    }
    (void)audit::verify_note(note, std::span(&key, 1));
  } catch (const audit::Error& e) {
    if (e.kind() == audit::ErrorKind::internal) fuzz::require_invalid_input(e);
  }
  return 0;
}
