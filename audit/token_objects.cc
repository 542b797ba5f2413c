#include "audit/token_objects.h"

#include <algorithm>
#include <array>
#include <string>

#include "audit/error.h"
#include "audit/json_path.h"

namespace escrowless::audit {
namespace {

constexpr std::array<std::string_view, 21> kAttributeNames = {
    "token",
    "private",
    "local",
    "sensitive",
    "always_sensitive",
    "extractable",
    "never_extractable",
    "modifiable",
    "copyable",
    "destroyable",
    "sign",
    "sign_recover",
    "verify",
    "verify_recover",
    "encrypt",
    "decrypt",
    "wrap",
    "unwrap",
    "derive",
    "trusted",
    "wrap_with_trusted",
};

// Indexed by the enums' values, which run from 0 without gaps.
constexpr std::array<std::string_view, 10> kClassNames = {
    "data",       "certificate",       "public-key", "private-key", "secret-key",
    "hw-feature", "domain-parameters", "mechanism",  "otp-key",     "vendor-defined",
};
constexpr std::array<std::string_view, 9> kKeyTypeNames = {
    "rsa", "dsa", "dh", "ec", "ec-edwards", "generic-secret", "aes", "des3", "other",
};

template <typename Enum, std::size_t N>
Enum parse_name(const std::array<std::string_view, N>& names, std::string_view name,
                std::string_view what) {
  const auto found = std::find(names.begin(), names.end(), name);
  if (found == names.end()) {
    std::string list;
    for (const std::string_view known : names) {
      list += (list.empty() ? "" : ", ") + std::string(known);
    }
    throw invalid_input("unknown " + std::string(what) + " " + quote(name) + " (known: " + list +
                        ")");
  }
  return static_cast<Enum>(found - names.begin());
}

}  // namespace

std::span<const std::string_view> attribute_names() noexcept { return kAttributeNames; }

bool is_attribute_name(std::string_view name) noexcept {
  return std::find(kAttributeNames.begin(), kAttributeNames.end(), name) != kAttributeNames.end();
}

std::string_view to_string(ObjectClass object_class) noexcept {
  const auto index = static_cast<std::size_t>(object_class);
  return index < kClassNames.size() ? kClassNames[index] : "unknown";
}

std::string_view to_string(KeyType key_type) noexcept {
  const auto index = static_cast<std::size_t>(key_type);
  return index < kKeyTypeNames.size() ? kKeyTypeNames[index] : "unknown";
}

ObjectClass parse_object_class(std::string_view name) {
  return parse_name<ObjectClass>(kClassNames, name, "object class");
}

KeyType parse_key_type(std::string_view name) {
  return parse_name<KeyType>(kKeyTypeNames, name, "key type");
}

}  // namespace escrowless::audit
