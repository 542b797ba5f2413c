#include "witness/add_checkpoint_request.h"

#include "audit/encoding.h"
#include "audit/error.h"

namespace escrowless::witness {

AddCheckpointRequest parse_add_checkpoint(std::string_view body) {
  if (body.size() > kMaxRequestBytes) {
    throw audit::invalid_input("the request body is larger than " + std::to_string(kMaxRequestBytes) + " bytes");
  }
  AddCheckpointRequest request;
  std::size_t at = 0;
  // The next line without its newline; every line must end in one.
  const auto next_line = [&body, &at](const char* what) {
    const std::size_t end = body.find('\n', at);
    if (end == std::string_view::npos) throw audit::invalid_input(std::string(what) + ": no terminating newline");
    const std::string_view line = body.substr(at, end - at);
    at = end + 1;
    return line;
  };
  const std::string_view old_line = next_line("old size line");
  if (!old_line.starts_with("old ")) throw audit::invalid_input("the body must start with \"old <size>\"");
  const auto old_size = audit::parse_canonical_decimal(old_line.substr(4));
  if (!old_size) {
    throw audit::invalid_input("old size line: not a decimal number within 64 bits without leading zeros");
  }
  request.old_size = *old_size;
  for (;;) {
    const std::string_view line = next_line("consistency proof");
    if (line.empty()) break;
    if (request.proof.size() == kMaxProofLines) {
      throw audit::invalid_input("more than " + std::to_string(kMaxProofLines) + " consistency proof lines");
    }
    try {
      request.proof.push_back(audit::hash_from_base64(line));
    } catch (const audit::Error&) {
      throw audit::invalid_input("consistency proof line " + std::to_string(request.proof.size() + 1) +
                                 ": not base64 of a 32-byte hash");
    }
  }
  if (at == body.size()) throw audit::invalid_input("no checkpoint after the blank line");
  request.checkpoint = std::string(body.substr(at));
  return request;
}

}  // namespace escrowless::witness
