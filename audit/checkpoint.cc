#include "audit/checkpoint.h"

#include <string>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/note.h"
#include "audit/utf8.h"

namespace escrowless::audit {
namespace {

uint64_t parse_size(std::string_view line) {
  const std::optional<uint64_t> value = parse_canonical_decimal(line);
  if (!value) {
    throw invalid_input("checkpoint line 2 (tree size): not a decimal number within 64 bits, without sign or "
                        "leading zeros");
  }
  return *value;
}

void check_line(std::string_view line, const std::string& where) {
  if (line.empty()) throw invalid_input(where + ": empty");
  if (line.find('\n') != std::string_view::npos) throw invalid_input(where + ": holds a newline");
  check_note_text_chars(line, where);
}

}  // namespace

Checkpoint parse_checkpoint(std::string_view text) {
  check_note_text_chars(text, "checkpoint");
  if (text.empty() || text.back() != '\n') {
    throw invalid_input("checkpoint: text must end in a newline");
  }
  std::vector<std::string_view> lines;
  for (std::string_view rest = text; !rest.empty();) {
    const std::size_t newline = rest.find('\n');
    lines.push_back(rest.substr(0, newline));
    rest.remove_prefix(newline + 1);
  }
  if (lines.size() < 3) {
    throw invalid_input("checkpoint: needs at least 3 lines (origin, size, root), got " +
                        std::to_string(lines.size()));
  }
  Checkpoint out;
  if (lines[0].empty()) throw invalid_input("checkpoint line 1 (origin): empty");
  out.origin = std::string(lines[0]);
  out.size = parse_size(lines[1]);
  out.root = hash_from_base64(lines[2], "checkpoint line 3 (root hash)");
  for (std::size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      throw invalid_input("checkpoint line " + std::to_string(i + 1) + " (extension): empty");
    }
    out.extensions.emplace_back(lines[i]);
  }
  return out;
}

std::string format_checkpoint(std::string_view origin, uint64_t size, const Hash& root,
                              std::span<const std::string> extensions) {
  check_line(origin, "checkpoint origin");
  std::string out(origin);
  out += '\n';
  out += std::to_string(size);
  out += '\n';
  out += to_base64(root);
  out += '\n';
  for (std::size_t i = 0; i < extensions.size(); ++i) {
    check_line(extensions[i], "checkpoint extension " + std::to_string(i + 1));
    out += extensions[i];
    out += '\n';
  }
  return out;
}

std::string format_checkpoint(const Checkpoint& checkpoint) {
  return format_checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root,
                           checkpoint.extensions);
}

Checkpoint open_checkpoint(std::string_view signed_note, std::string_view expected_origin,
                           std::span<const VerifierKey> verifiers) {
  const VerifiedNote note = verify_note(signed_note, verifiers);
  Checkpoint checkpoint = parse_checkpoint(note.text);
  if (checkpoint.origin != expected_origin) {
    throw mismatch("checkpoint: origin \"" + checkpoint.origin + "\" is not the expected \"" +
                   std::string(expected_origin) + "\"");
  }
  return checkpoint;
}

}  // namespace escrowless::audit
