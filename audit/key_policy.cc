#include "audit/key_policy.h"

#include <cstdio>
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
  bool required;       // absent is a fault too
  uint64_t mechanism;  // the CKF_* flag of a mechanism that would use it; 0: never accepted
};
constexpr MustBeFalse kMustBeFalse[] = {
    {"extractable", "extractable", true, 0},
    {"decrypt", "able to decrypt", true, kCkfDecrypt},
    {"unwrap", "able to unwrap", true, kCkfUnwrap},
    {"derive", "able to derive", true, kCkfDerive},
    {"wrap", "able to wrap", false, 0},  // PKCS#11 defines CKA_WRAP for public and secret keys only
};

const bool* find_flag(const Attributes& flags, std::string_view name) {
  const auto found = flags.find(std::string(name));
  return found == flags.end() ? nullptr : &found->second;
}

std::string mechanism_hex(uint64_t type) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%08llx", static_cast<unsigned long long>(type));
  return text;
}

// Why a capability flag on an EC key can't be accepted, or nullopt when it can.
std::optional<std::string> why_not_accepted(const MustBeFalse& rule, const std::vector<TokenMechanism>* mechanisms) {
  if (mechanisms == nullptr) return "no mechanism list is logged for the token, so nothing shows it unusable";
  if (mechanisms->empty()) return "the token's logged mechanism list is empty, which shows nothing";
  for (const TokenMechanism& m : *mechanisms) {
    if ((m.flags & rule.mechanism) != 0 && mechanism_could_use_ec_key(m.type)) {
      return "the token's logged mechanism " + mechanism_hex(m.type) + " offers " + std::string(rule.flag) +
             " and may take an EC key";
    }
  }
  return std::nullopt;
}

}  // namespace

bool mechanism_could_use_ec_key(uint64_t type) {
  constexpr uint64_t kVendorDefined = 0x80000000;
  constexpr uint64_t kRsaAesKeyWrap = 0x1054;  // inside the EC block, but for RSA keys
  if (type >= kVendorDefined) return true;
  if (type >= 0x1040 && type <= 0x105f) return type != kRsaAesKeyWrap;
  switch (type) {
    case 0x140b:  // CKM_EC_KEY_PAIR_GEN_W_EXTRA_BITS
    case 0x4029:  // CKM_XEDDSA
    case 0x4038:  // CKM_ECDH_X_AES_KEY_WRAP
    case 0x4039:  // CKM_ECDH_COF_AES_KEY_WRAP
    case 0x403a:  // CKM_PUB_KEY_FROM_PRIV_KEY
      return true;
    default:
      return false;
  }
}

PrivateKeyFindings weigh_private_key(const Attributes& flags, std::optional<KeyType> key_type,
                                     const std::vector<TokenMechanism>* mechanisms) {
  PrivateKeyFindings out;
  const bool ec = key_type == KeyType::ec;
  for (const MustBeFalse& rule : kMustBeFalse) {
    const bool* value = find_flag(flags, rule.flag);
    if (value == nullptr) {
      if (rule.required) out.faults.push_back(std::string(rule.flag) + " not reported");
    } else if (*value) {
      if (!ec || rule.mechanism == 0) {
        out.faults.emplace_back(rule.when_true);
      } else if (const auto why = why_not_accepted(rule, mechanisms)) {
        out.faults.push_back(std::string(rule.when_true) + " (" + *why + ")");
      } else {
        out.accepted.emplace_back(rule.flag);
      }
    }
  }
  for (const MustBeTrue& rule : kMustBeTrue) {
    const bool* value = find_flag(flags, rule.flag);
    if (value == nullptr) {
      out.faults.push_back(std::string(rule.flag) + " not reported");
    } else if (!*value) {
      out.faults.emplace_back(rule.when_false);
    }
  }
  return out;
}

std::vector<std::string> private_key_faults(const Attributes& flags) {
  return weigh_private_key(flags, std::nullopt, nullptr).faults;
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
