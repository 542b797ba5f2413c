#include "audit/json_path.h"

namespace escrowless::audit {

std::string field_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return printable(key);
  std::string out(parent);
  out += '.';
  out += printable(key);
  return out;
}

std::string index_path(std::string_view parent, std::size_t index) {
  std::string out(parent);
  out += '[';
  out += std::to_string(index);
  out += ']';
  return out;
}

std::string printable(std::string_view text, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const std::size_t length = text.size() < max_bytes ? text.size() : max_bytes;
  for (std::size_t i = 0; i < length; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7f && byte != '"' && byte != '\\') {
      out += static_cast<char>(byte);
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    }
  }
  if (length < text.size()) out += "...";
  return out;
}

std::string quote(std::string_view text, std::size_t max_bytes) {
  // Appending, not "\"" + ...: GCC 12 at -O3 warns (-Wrestrict) on that form, falsely.
  std::string out = "\"";
  out += printable(text, max_bytes);
  out += '"';
  return out;
}

}  // namespace escrowless::audit
