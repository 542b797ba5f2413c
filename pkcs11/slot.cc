#include "pkcs11/slot.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

#include "pkcs11/error.h"
#include "pkcs11/padded_text.h"
#include "pkcs11/session.h"

namespace escrowless::pkcs11 {
namespace {

std::string version_string(CK_VERSION v) {
  return std::to_string(v.major) + "." + std::to_string(v.minor);
}

bool version_matches(const std::string& wanted, CK_VERSION v) {
  const std::size_t dot = wanted.find('.');
  if (dot == std::string::npos) return wanted == std::to_string(v.major);
  return wanted == version_string(v);
}

TokenInfo read_token(const Module& module, CK_SLOT_ID slot) {
  CK_SLOT_INFO slot_info{};
  check(module.fn()->C_GetSlotInfo(slot, &slot_info), "C_GetSlotInfo");
  CK_TOKEN_INFO token{};
  check(module.fn()->C_GetTokenInfo(slot, &token), "C_GetTokenInfo");
  TokenInfo info;
  info.slot_id = slot;
  info.slot_description = padded_text(slot_info.slotDescription);
  info.slot_manufacturer = padded_text(slot_info.manufacturerID);
  info.label = padded_text(token.label);
  info.manufacturer = padded_text(token.manufacturerID);
  info.model = padded_text(token.model);
  info.serial = padded_text(token.serialNumber);
  info.flags = token.flags;
  info.hardware_version = token.hardwareVersion;
  info.firmware_version = token.firmwareVersion;
  info.min_pin_length = token.ulMinPinLen;
  info.max_pin_length = token.ulMaxPinLen;
  info.limits = {token.ulMaxSessionCount,   token.ulSessionCount,       token.ulMaxRwSessionCount,
                 token.ulRwSessionCount,    token.ulTotalPublicMemory,  token.ulFreePublicMemory,
                 token.ulTotalPrivateMemory, token.ulFreePrivateMemory};
  return info;
}

bool matches(const TokenInfo& token, const Uri& uri) {
  const auto same = [](const std::optional<std::string>& wanted, const std::string& actual) {
    return !wanted || *wanted == actual;
  };
  return (!uri.slot_id || *uri.slot_id == token.slot_id) && same(uri.token, token.label) &&
         same(uri.manufacturer, token.manufacturer) && same(uri.serial, token.serial) &&
         same(uri.model, token.model) && same(uri.slot_description, token.slot_description) &&
         same(uri.slot_manufacturer, token.slot_manufacturer);
}

bool library_matches(const Module& module, const Uri& uri) {
  if (!uri.library_manufacturer && !uri.library_description && !uri.library_version) return true;
  const CK_INFO info = module.info();
  return (!uri.library_manufacturer || *uri.library_manufacturer == padded_text(info.manufacturerID)) &&
         (!uri.library_description ||
          *uri.library_description == padded_text(info.libraryDescription)) &&
         (!uri.library_version || version_matches(*uri.library_version, info.libraryVersion));
}

struct MechanismName {
  CK_MECHANISM_TYPE type;
  std::string_view name;
};
#define M(name) MechanismName{name, #name}
constexpr std::array kMechanismNames = {
    M(CKM_RSA_PKCS_KEY_PAIR_GEN), M(CKM_RSA_PKCS), M(CKM_RSA_X_509), M(CKM_RSA_PKCS_OAEP),
    M(CKM_RSA_PKCS_PSS), M(CKM_SHA1_RSA_PKCS), M(CKM_SHA256_RSA_PKCS), M(CKM_SHA384_RSA_PKCS),
    M(CKM_SHA512_RSA_PKCS), M(CKM_SHA256_RSA_PKCS_PSS), M(CKM_SHA384_RSA_PKCS_PSS),
    M(CKM_SHA512_RSA_PKCS_PSS), M(CKM_SHA_1), M(CKM_SHA224), M(CKM_SHA256), M(CKM_SHA384),
    M(CKM_SHA512), M(CKM_MD5), M(CKM_SHA_1_HMAC), M(CKM_SHA256_HMAC), M(CKM_SHA384_HMAC),
    M(CKM_SHA512_HMAC), M(CKM_GENERIC_SECRET_KEY_GEN), M(CKM_AES_KEY_GEN), M(CKM_AES_ECB),
    M(CKM_AES_CBC), M(CKM_AES_CBC_PAD), M(CKM_AES_CTR), M(CKM_AES_GCM), M(CKM_AES_CMAC),
    M(CKM_AES_KEY_WRAP), M(CKM_AES_KEY_WRAP_PAD), M(CKM_DES3_KEY_GEN), M(CKM_DES3_CBC),
    M(CKM_DES3_ECB), M(CKM_EC_KEY_PAIR_GEN), M(CKM_ECDSA), M(CKM_ECDSA_SHA1), M(CKM_ECDSA_SHA256),
    M(CKM_ECDSA_SHA384), M(CKM_ECDSA_SHA512), M(CKM_ECDH1_DERIVE), M(CKM_EC_EDWARDS_KEY_PAIR_GEN),
    M(CKM_EDDSA), M(CKM_DSA_KEY_PAIR_GEN), M(CKM_DSA), M(CKM_DSA_SHA1), M(CKM_DH_PKCS_KEY_PAIR_GEN),
    M(CKM_DH_PKCS_DERIVE), M(CKM_AES_OFB), M(CKM_AES_CFB8), M(CKM_AES_CFB64), M(CKM_AES_CFB128),
    M(CKM_AES_CFB1), M(CKM_RC2_ECB), M(CKM_RC2_CBC), M(CKM_RC2_CBC_PAD), M(CKM_DES_ECB),
    M(CKM_DES_CBC), M(CKM_DES_CBC_PAD), M(CKM_DES3_CBC_PAD), M(CKM_CDMF_ECB), M(CKM_CDMF_CBC),
    M(CKM_CDMF_CBC_PAD), M(CKM_CAMELLIA_ECB), M(CKM_CAMELLIA_CBC), M(CKM_CAMELLIA_CBC_PAD),
    M(CKM_SEED_ECB), M(CKM_SEED_CBC), M(CKM_SEED_CBC_PAD), M(CKM_ECDH1_COFACTOR_DERIVE),
    M(CKM_ECMQV_DERIVE), M(CKM_ECDH_AES_KEY_WRAP), M(CKM_RSA_AES_KEY_WRAP),
};
#undef M

struct FlagName {
  CK_FLAGS flag;
  std::string_view name;
};
constexpr std::array<FlagName, 18> kTokenFlags = {{
    {CKF_RNG, "rng"},
    {CKF_WRITE_PROTECTED, "write-protected"},
    {CKF_LOGIN_REQUIRED, "login-required"},
    {CKF_USER_PIN_INITIALIZED, "user-pin-initialized"},
    {CKF_RESTORE_KEY_NOT_NEEDED, "restore-key-not-needed"},
    {CKF_CLOCK_ON_TOKEN, "clock-on-token"},
    {CKF_PROTECTED_AUTHENTICATION_PATH, "protected-authentication-path"},
    {CKF_DUAL_CRYPTO_OPERATIONS, "dual-crypto-operations"},
    {CKF_TOKEN_INITIALIZED, "token-initialized"},
    {CKF_SECONDARY_AUTHENTICATION, "secondary-authentication"},
    {CKF_USER_PIN_COUNT_LOW, "user-pin-count-low"},
    {CKF_USER_PIN_FINAL_TRY, "user-pin-final-try"},
    {CKF_USER_PIN_LOCKED, "user-pin-locked"},
    {CKF_USER_PIN_TO_BE_CHANGED, "user-pin-to-be-changed"},
    {CKF_SO_PIN_COUNT_LOW, "so-pin-count-low"},
    {CKF_SO_PIN_FINAL_TRY, "so-pin-final-try"},
    {CKF_SO_PIN_LOCKED, "so-pin-locked"},
    {CKF_SO_PIN_TO_BE_CHANGED, "so-pin-to-be-changed"},
}};
constexpr std::array<FlagName, 18> kMechanismFlags = {{
    {CKF_HW, "hw"},
    {CKF_ENCRYPT, "encrypt"},
    {CKF_DECRYPT, "decrypt"},
    {CKF_DIGEST, "digest"},
    {CKF_SIGN, "sign"},
    {CKF_SIGN_RECOVER, "sign-recover"},
    {CKF_VERIFY, "verify"},
    {CKF_VERIFY_RECOVER, "verify-recover"},
    {CKF_GENERATE, "generate"},
    {CKF_GENERATE_KEY_PAIR, "generate-key-pair"},
    {CKF_WRAP, "wrap"},
    {CKF_UNWRAP, "unwrap"},
    {CKF_DERIVE, "derive"},
    {CKF_EC_F_P, "ec-f-p"},
    {CKF_EC_NAMEDCURVE, "ec-named-curve"},
    {CKF_EC_UNCOMPRESS, "ec-uncompress"},
    {CKF_EC_COMPRESS, "ec-compress"},
    {CKF_EXTENSION, "extension"},
}};

template <std::size_t N>
std::vector<std::string_view> names_of(CK_FLAGS flags, const std::array<FlagName, N>& table) {
  std::vector<std::string_view> names;
  for (const FlagName& entry : table) {
    if ((flags & entry.flag) != 0) names.push_back(entry.name);
  }
  return names;
}

bool can(const std::vector<Mechanism>& mechanisms, CK_MECHANISM_TYPE type, CK_FLAGS flag) {
  return std::any_of(mechanisms.begin(), mechanisms.end(), [&](const Mechanism& m) {
    return m.type == type && (m.flags & flag) != 0;
  });
}

}  // namespace

std::string_view to_string(Algorithm algorithm) {
  return algorithm == Algorithm::ed25519 ? "ed25519" : "ecdsa-p256";
}

Algorithm parse_algorithm(std::string_view name) {
  if (name == "ed25519") return Algorithm::ed25519;
  if (name == "ecdsa-p256") return Algorithm::ecdsa_p256;
  throw Error(ErrorKind::invalid_input,
              "unknown algorithm '" + std::string(name) + "': use ed25519 or ecdsa-p256");
}

std::vector<std::string_view> token_flag_names(CK_FLAGS flags) { return names_of(flags, kTokenFlags); }

std::vector<std::string_view> mechanism_flag_names(CK_FLAGS flags) {
  return names_of(flags, kMechanismFlags);
}

std::vector<TokenInfo> list_tokens(const Module& module) {
  CK_ULONG count = 0;
  check(module.fn()->C_GetSlotList(CK_TRUE, nullptr, &count), "C_GetSlotList");
  std::vector<CK_SLOT_ID> slots(count);
  check(module.fn()->C_GetSlotList(CK_TRUE, slots.data(), &count), "C_GetSlotList");
  slots.resize(count);
  std::vector<TokenInfo> tokens;
  tokens.reserve(slots.size());
  for (const CK_SLOT_ID slot : slots) tokens.push_back(read_token(module, slot));
  return tokens;
}

TokenInfo find_token(const Module& module, const Uri& uri) {
  std::vector<TokenInfo> found;
  if (library_matches(module, uri)) {
    for (TokenInfo& token : list_tokens(module)) {
      if (token.initialized() && matches(token, uri)) found.push_back(std::move(token));
    }
  }
  Uri shown = uri;  // name the token part of the URI only
  shown.module_path.reset();
  shown.module_name.reset();
  shown.pin_source.reset();
  if (found.empty()) {
    throw Error(ErrorKind::not_found,
                "no initialized token in " + module.path() + " matches " + shown.to_string() +
                    " (for SoftHSM, check that SOFTHSM2_CONF names the right softhsm2.conf)");
  }
  if (found.size() > 1) {
    throw Error(ErrorKind::invalid_input,
                std::to_string(found.size()) + " tokens match " + shown.to_string() +
                    ": add serial= to the URI to pick one");
  }
  return std::move(found.front());
}

std::string mechanism_name(CK_MECHANISM_TYPE type) {
  for (const auto& entry : kMechanismNames) {
    if (entry.type == type) return std::string(entry.name);
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "CKM_0x%08lx", static_cast<unsigned long>(type));
  return buf;
}

std::vector<Mechanism> list_mechanisms(const Module& module, CK_SLOT_ID slot) {
  CK_ULONG count = 0;
  check(module.fn()->C_GetMechanismList(slot, nullptr, &count), "C_GetMechanismList");
  std::vector<CK_MECHANISM_TYPE> types(count);
  check(module.fn()->C_GetMechanismList(slot, types.data(), &count), "C_GetMechanismList");
  types.resize(count);
  std::vector<Mechanism> mechanisms;
  for (const CK_MECHANISM_TYPE type : types) {
    CK_MECHANISM_INFO info{};
    check(module.fn()->C_GetMechanismInfo(slot, type, &info), "C_GetMechanismInfo");
    mechanisms.push_back({type, mechanism_name(type), info.ulMinKeySize, info.ulMaxKeySize,
                          info.flags});
  }
  return mechanisms;
}

Algorithm choose_algorithm(const std::vector<Mechanism>& mechanisms) {
  if (can(mechanisms, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR) &&
      can(mechanisms, CKM_EDDSA, CKF_SIGN)) {
    return Algorithm::ed25519;
  }
  if (can(mechanisms, CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR) &&
      can(mechanisms, CKM_ECDSA, CKF_SIGN)) {
    return Algorithm::ecdsa_p256;
  }
  throw Error(ErrorKind::invalid_input,
              "the token supports neither EdDSA nor ECDSA key generation and signing");
}

TokenInfo init_token(const Module& module, std::string_view label, const Secret& so_pin,
                     const Secret& user_pin) {
  if (label.empty() || label.size() > 32) {
    throw Error(ErrorKind::invalid_input, "token label must be 1 to 32 bytes");
  }
  const std::vector<TokenInfo> tokens = list_tokens(module);
  for (const TokenInfo& token : tokens) {
    if (token.initialized() && token.label == label) {
      throw Error(ErrorKind::invalid_input, "a token labelled '" + std::string(label) +
                                                "' already exists (serial " + token.serial + ")");
    }
  }
  const auto free_slot = std::find_if(tokens.begin(), tokens.end(),
                                      [](const TokenInfo& t) { return !t.initialized(); });
  if (free_slot == tokens.end()) {
    throw Error(ErrorKind::unavailable, "no slot with an uninitialized token in " + module.path());
  }

  CK_UTF8CHAR padded[32];
  std::memset(padded, ' ', sizeof padded);
  std::memcpy(padded, label.data(), label.size());
  const auto so = so_pin.bytes();
  check(module.fn()->C_InitToken(free_slot->slot_id, const_cast<CK_UTF8CHAR*>(so.data()),
                                 so.size(), padded),
        "C_InitToken");

  // The slot id may have changed: find the new token by label, then use its serial from now on.
  Uri by_label;
  by_label.token = std::string(label);
  TokenInfo token = find_token(module, by_label);

  Session session = Session::open(module, token.slot_id);
  session.login(CKU_SO, so_pin);
  const auto user = user_pin.bytes();
  check(module.fn()->C_InitPIN(session.handle(), const_cast<CK_UTF8CHAR*>(user.data()),
                               user.size()),
        "C_InitPIN");
  session.logout();
  return read_token(module, token.slot_id);
}

}  // namespace escrowless::pkcs11
