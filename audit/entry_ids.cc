#include "audit/entry_ids.h"

#include "audit/error.h"
#include "audit/json_path.h"

namespace escrowless::audit {
namespace {

constexpr std::string_view kAdmin = "admin";
constexpr std::string_view kDevicePrefix = "device:";

bool is_id_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

bool is_valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  for (const char c : id) {
    if (!is_id_char(c)) return false;
  }
  return true;
}

std::string Actor::to_string() const {
  return is_admin() ? std::string(kAdmin) : std::string(kDevicePrefix) + device;
}

Actor parse_actor(std::string_view text) {
  if (text == kAdmin) return Actor::admin();
  if (text.substr(0, kDevicePrefix.size()) != kDevicePrefix) {
    throw invalid_input("actor must be \"admin\" or \"device:<device id>\", got " + quote(text));
  }
  const std::string_view id = text.substr(kDevicePrefix.size());
  if (!is_valid_id(id)) {
    throw invalid_input("actor: device id must be 1 to 64 characters from [A-Za-z0-9._-], got " +
                        quote(id));
  }
  return Actor::of_device(std::string(id));
}

}  // namespace escrowless::audit
