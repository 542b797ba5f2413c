#include "audit/key_policy.h"

#include <string_view>
#include <utility>

namespace escrowless::audit {
namespace {

// The phrase for a required-true flag that is false, and the flag's name in messages.
struct MustBeTrue {
  std::string_view flag;
  std::string_view when_false;
};
constexpr MustBeTrue kMustBeTrue[] = {
    {"sensitive", "not sensitive"},
    {"always_sensitive", "not always-sensitive"},
    {"never_extractable", "not never-extractable"},
    {"local", "not generated in the token (local is false)"},
};

struct MustBeFalse {
  std::string_view flag;
  std::string_view when_true;
  bool required;  // absent is a fault too
};
constexpr MustBeFalse kMustBeFalse[] = {
    {"extractable", "extractable", true},
    {"decrypt", "able to decrypt", true},
    {"unwrap", "able to unwrap", true},
    {"derive", "able to derive", true},
    {"wrap", "able to wrap", false},  // PKCS#11 defines CKA_WRAP for public and secret keys only
};

const bool* find_flag(const Attributes& flags, std::string_view name) {
  const auto found = flags.find(std::string(name));
  return found == flags.end() ? nullptr : &found->second;
}

}  // namespace

std::vector<std::string> private_key_faults(const Attributes& flags) {
  std::vector<std::string> faults;
  for (const MustBeFalse& rule : kMustBeFalse) {
    const bool* value = find_flag(flags, rule.flag);
    if (value == nullptr) {
      if (rule.required) faults.push_back(std::string(rule.flag) + " not reported");
    } else if (*value) {
      faults.emplace_back(rule.when_true);
    }
  }
  for (const MustBeTrue& rule : kMustBeTrue) {
    const bool* value = find_flag(flags, rule.flag);
    if (value == nullptr) {
      faults.push_back(std::string(rule.flag) + " not reported");
    } else if (!*value) {
      faults.emplace_back(rule.when_false);
    }
  }
  return faults;
}

std::vector<std::string> secret_key_capabilities(const Attributes& flags) {
  std::vector<std::string> capabilities;
  for (const std::string_view flag : {"wrap", "unwrap", "decrypt"}) {
    const bool* value = find_flag(flags, flag);
    if (value != nullptr && *value) capabilities.push_back("able to " + std::string(flag));
  }
  return capabilities;
}

std::string join_phrases(const std::vector<std::string>& phrases) {
  std::string text;
  for (std::size_t i = 0; i < phrases.size(); ++i) {
    if (i > 0) text += i + 1 == phrases.size() ? " and " : ", ";
    text += phrases[i];
  }
  return text;
}

}  // namespace escrowless::audit
