#include "audit/note.h"

#include <string>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/utf8.h"

namespace escrowless::audit {
namespace {

constexpr std::string_view kSignaturePrefix = "\xE2\x80\x94 ";  // em dash U+2014, space
constexpr std::size_t kKeyIdSize = 4;

std::string key_label(const std::string& name, uint32_t key_id) {
  const uint8_t id[4] = {static_cast<uint8_t>(key_id >> 24), static_cast<uint8_t>(key_id >> 16),
                         static_cast<uint8_t>(key_id >> 8), static_cast<uint8_t>(key_id)};
  return name + "+" + hex_encode(id);
}

void check_text(std::string_view text) {
  if (text.empty() || text.back() != '\n') {
    throw invalid_input("note text must be non-empty and end in a newline");
  }
  check_note_text_chars(text, "note text");
}

// Parses one signature line without its newline. `number` is 1-based, for messages.
NoteSignature parse_signature_line(std::string_view line, std::size_t number) {
  const std::string where = "note signature line " + std::to_string(number);
  if (line.substr(0, kSignaturePrefix.size()) != kSignaturePrefix) {
    throw invalid_input(where + ": must start with an em dash and a space");
  }
  line.remove_prefix(kSignaturePrefix.size());
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos) throw invalid_input(where + ": no space after the name");
  const std::string_view name = line.substr(0, space);
  const std::string_view encoded = line.substr(space + 1);
  if (!is_valid_key_name(name)) throw invalid_input(where + ": invalid key name");
  std::vector<uint8_t> bytes;
  try {
    bytes = base64_decode(encoded);
  } catch (const Error& e) {
    throw invalid_input(where + ": " + e.what());
  }
  if (bytes.size() <= kKeyIdSize) {
    throw invalid_input(where + ": signature must hold a 4-byte key id and at least one byte");
  }
  NoteSignature sig;
  sig.name = std::string(name);
  sig.key_id = (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) |
               (uint32_t{bytes[2]} << 8) | bytes[3];
  sig.signature.assign(bytes.begin() + kKeyIdSize, bytes.end());
  return sig;
}

std::span<const uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace

Note parse_note(std::string_view note) {
  check_note_text_chars(note, "note");
  // The signatures hold no blank line, so the last one separates them from the text.
  const std::size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) {
    throw invalid_input("note: no blank line before the signatures");
  }
  Note out;
  out.text = std::string(note.substr(0, split + 1));
  std::string_view rest = note.substr(split + 2);
  if (rest.empty()) throw invalid_input("note: no signature lines");
  if (rest.back() != '\n') throw invalid_input("note: last signature line has no final newline");
  while (!rest.empty()) {
    if (out.signatures.size() == kMaxNoteSignatures) {
      throw invalid_input("note: more than " + std::to_string(kMaxNoteSignatures) +
                          " signatures");
    }
    const std::size_t newline = rest.find('\n');
    out.signatures.push_back(
        parse_signature_line(rest.substr(0, newline), out.signatures.size() + 1));
    rest.remove_prefix(newline + 1);
  }
  return out;
}

VerifiedNote verify_note(std::string_view note, std::span<const VerifierKey> verifiers) {
  for (std::size_t i = 0; i < verifiers.size(); ++i) {
    for (std::size_t j = i + 1; j < verifiers.size(); ++j) {
      if (verifiers[i].name() == verifiers[j].name() &&
          verifiers[i].key_id() == verifiers[j].key_id()) {
        throw invalid_input("verifier list: two keys are " +
                            key_label(verifiers[i].name(), verifiers[i].key_id()));
      }
    }
  }
  Note parsed = parse_note(note);
  VerifiedNote out;
  for (NoteSignature& sig : parsed.signatures) {
    const VerifierKey* key = nullptr;
    for (const VerifierKey& candidate : verifiers) {
      if (candidate.name() == sig.name && candidate.key_id() == sig.key_id) key = &candidate;
    }
    if (key == nullptr) {
      out.unverified.push_back(std::move(sig));
      continue;
    }
    const std::string label = key_label(sig.name, sig.key_id);
    bool ok = false;
    try {
      ok = key->verify(as_bytes(parsed.text), sig.signature);
    } catch (const Error& e) {
      throw Error(e.kind(), "note: signature by " + label + ": " + e.what());
    }
    if (!ok) throw mismatch("note: signature by " + label + " does not verify");
    out.verified.push_back(std::move(sig));
  }
  if (out.verified.empty()) {
    std::string seen;
    for (const NoteSignature& sig : out.unverified) {
      seen += (seen.empty() ? "" : ", ") + key_label(sig.name, sig.key_id);
    }
    throw mismatch("note: no signature from a known key (signed by: " + seen + ")");
  }
  out.text = std::move(parsed.text);
  return out;
}

std::vector<uint8_t> note_signed_message(std::string_view text) {
  check_text(text);
  const auto bytes = as_bytes(text);
  return {bytes.begin(), bytes.end()};
}

std::string format_signature_line(std::string_view name, uint32_t key_id,
                                  std::span<const uint8_t> signature) {
  if (!is_valid_key_name(name)) {
    throw invalid_input("signature line: invalid key name");
  }
  if (signature.empty()) throw invalid_input("signature line: empty signature");
  std::vector<uint8_t> bytes = {static_cast<uint8_t>(key_id >> 24),
                                static_cast<uint8_t>(key_id >> 16),
                                static_cast<uint8_t>(key_id >> 8), static_cast<uint8_t>(key_id)};
  bytes.insert(bytes.end(), signature.begin(), signature.end());
  return std::string(kSignaturePrefix) + std::string(name) + " " + base64_encode(bytes) + "\n";
}

std::string append_signature(std::string_view text, std::string_view line) {
  return append_signature(Note{std::string(text), {}}, line);
}

std::string append_signature(const Note& note, std::string_view line) {
  if (line.empty() || line.back() != '\n') {
    throw invalid_input("signature line must end in a newline");
  }
  Note extended = note;
  extended.signatures.push_back(
      parse_signature_line(line.substr(0, line.size() - 1), note.signatures.size() + 1));
  return format_note(extended);
}

std::string format_note(const Note& note) {
  check_text(note.text);
  if (note.signatures.empty()) throw invalid_input("note: no signatures");
  if (note.signatures.size() > kMaxNoteSignatures) {
    throw invalid_input("note: more than " + std::to_string(kMaxNoteSignatures) + " signatures");
  }
  std::string out = note.text;
  out += '\n';
  for (const NoteSignature& sig : note.signatures) {
    out += format_signature_line(sig.name, sig.key_id, sig.signature);
  }
  return out;
}

}  // namespace escrowless::audit
