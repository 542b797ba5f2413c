#include "audit/utf8.h"

#include <cstdint>
#include <optional>
#include <string>

#include "audit/error.h"

namespace escrowless::audit {
namespace {

// Decodes one code point at text[pos], advancing pos; nullopt on any invalid sequence.
std::optional<char32_t> decode(std::string_view text, std::size_t& pos) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t b0 = byte(pos);
  if (b0 < 0x80) {
    ++pos;
    return b0;
  }
  std::size_t length = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xe0) == 0xc0) {
    length = 2, cp = b0 & 0x1f, min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    length = 3, cp = b0 & 0x0f, min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    length = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return std::nullopt;  // a continuation byte, or 0xf8..0xff
  }
  if (text.size() - pos < length) return std::nullopt;
  for (std::size_t i = 1; i < length; ++i) {
    const uint8_t b = byte(pos + i);
    if ((b & 0xc0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;
  pos += length;
  return cp;
}

// Unicode White_Space (PropList.txt).
bool is_unicode_space(char32_t c) noexcept {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

}  // namespace

bool is_valid_utf8(std::string_view text) noexcept {
  for (std::size_t pos = 0; pos < text.size();) {
    if (!decode(text, pos)) return false;
  }
  return true;
}

void check_note_text_chars(std::string_view text, std::string_view what) {
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t at = pos;
    const auto cp = decode(text, pos);
    if (!cp) {
      throw invalid_input(std::string(what) + ": invalid UTF-8 at byte " + std::to_string(at));
    }
    if (*cp < 0x20 && *cp != '\n') {
      throw invalid_input(std::string(what) + ": control character at byte " +
                          std::to_string(at));
    }
  }
}

bool is_valid_key_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (std::size_t pos = 0; pos < name.size();) {
    const auto cp = decode(name, pos);
    if (!cp || *cp < 0x20 || *cp == '+' || is_unicode_space(*cp)) return false;
  }
  return true;
}

}  // namespace escrowless::audit
