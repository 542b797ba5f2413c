// The binary field encoding of the prekey formats (docs/protocol.md): every field is a 2-byte
// big-endian length followed by that many bytes, so no two field lists share an encoding.
// Internal to audit/; the prekey message and the batch leaf are built with it.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace escrowless::audit {

// Appends length(2 bytes, big-endian) || bytes. Requires bytes.size() <= 65535; the callers
// append only fields whose sizes they have already checked.
void append_field(std::vector<uint8_t>& out, std::span<const uint8_t> bytes);
void append_field(std::vector<uint8_t>& out, std::string_view text);

// A uint32 as a 4-byte big-endian field: 0x00 0x04, then the value.
void append_uint32_field(std::vector<uint8_t>& out, uint32_t value);

}  // namespace escrowless::audit
