#include "audit/byte_fields.h"

#include <array>
#include <cstddef>
#include <limits>
#include <string>

#include "audit/error.h"

namespace escrowless::audit {

void append_field(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  if (bytes.size() > std::numeric_limits<uint16_t>::max()) {
    throw invalid_input("field of " + std::to_string(bytes.size()) +
                        " bytes does not fit a 2-byte length");
  }
  out.push_back(static_cast<uint8_t>(bytes.size() >> 8));
  out.push_back(static_cast<uint8_t>(bytes.size() & 0xff));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

void append_field(std::vector<uint8_t>& out, std::string_view text) {
  append_field(out, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void append_uint32_field(std::vector<uint8_t>& out, uint32_t value) {
  const std::array<uint8_t, 4> bytes = {
      static_cast<uint8_t>(value >> 24), static_cast<uint8_t>(value >> 16),
      static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
  append_field(out, bytes);
}

}  // namespace escrowless::audit
