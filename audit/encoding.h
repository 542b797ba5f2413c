// Hex and standard base64 (RFC 4648 section 4), strict on input: every byte string has exactly
// one accepted encoding, so a signature or hash can't be smuggled in a second spelling.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace escrowless::audit {

// Lowercase hex.
std::string hex_encode(std::span<const uint8_t> bytes);

// Decodes hex (either case). Throws invalid_input on odd length or a non-hex character.
std::vector<uint8_t> hex_decode(std::string_view text);

// Standard base64 with '=' padding.
std::string base64_encode(std::span<const uint8_t> bytes);

// Decodes standard base64. Strict: length a multiple of 4, padding required, '=' only at the
// end, no whitespace or line breaks, the URL-safe alphabet rejected, and the unused bits of the
// last character zero (so the encoding is canonical). Throws invalid_input otherwise.
std::vector<uint8_t> base64_decode(std::string_view text);

// Reads a size as C2SP formats write them: ASCII decimal digits only, no sign, no leading zero
// (except "0" itself), within 64 bits. nullopt otherwise.
std::optional<uint64_t> parse_canonical_decimal(std::string_view text);

}  // namespace escrowless::audit
