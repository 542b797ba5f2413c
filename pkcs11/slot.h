// Tokens as Cryptoki slots: listing, selection by URI, mechanisms, and initialization.
//
// Slot ids are not stable (SoftHSM renumbers a slot when its token is initialized), so tokens are
// always found by what the URI says about them (label, serial, ...), never by a remembered slot id.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pkcs11/cryptoki.h"
#include "pkcs11/module.h"
#include "pkcs11/secret.h"
#include "pkcs11/uri.h"

namespace escrowless::pkcs11 {

// CK_TOKEN_INFO's counts and sizes, as the token reports them. A value may be
// CK_UNAVAILABLE_INFORMATION (the token does not say) or, for the maximum session counts,
// CK_EFFECTIVELY_INFINITE (0: no limit); keyadmin token check shows both as such.
struct TokenLimits {
  CK_ULONG max_sessions = CK_UNAVAILABLE_INFORMATION;
  CK_ULONG sessions = CK_UNAVAILABLE_INFORMATION;
  CK_ULONG max_rw_sessions = CK_UNAVAILABLE_INFORMATION;
  CK_ULONG rw_sessions = CK_UNAVAILABLE_INFORMATION;
  CK_ULONG total_public_memory = CK_UNAVAILABLE_INFORMATION;
  CK_ULONG free_public_memory = CK_UNAVAILABLE_INFORMATION;
  CK_ULONG total_private_memory = CK_UNAVAILABLE_INFORMATION;
  CK_ULONG free_private_memory = CK_UNAVAILABLE_INFORMATION;
};

struct TokenInfo {
  CK_SLOT_ID slot_id = 0;
  std::string slot_description;
  std::string slot_manufacturer;
  std::string label;
  std::string manufacturer;
  std::string model;
  std::string serial;
  CK_FLAGS flags = 0;
  CK_VERSION hardware_version{};
  CK_VERSION firmware_version{};
  unsigned long min_pin_length = 0;
  unsigned long max_pin_length = 0;
  TokenLimits limits;

  bool initialized() const { return (flags & CKF_TOKEN_INITIALIZED) != 0; }
};

enum class Algorithm { ed25519, ecdsa_p256 };

std::string_view to_string(Algorithm algorithm);
// Accepts "ed25519" and "ecdsa-p256"; throws Error(invalid_input) otherwise.
Algorithm parse_algorithm(std::string_view name);

struct Mechanism {
  CK_MECHANISM_TYPE type = 0;
  std::string name;  // "CKM_EDDSA", or "CKM_0x..." for values we have no name for
  unsigned long min_key_size = 0;
  unsigned long max_key_size = 0;
  CK_FLAGS flags = 0;
};

// Names of the set bits of CK_TOKEN_INFO.flags ("rng", "login-required", ...) and of
// CK_MECHANISM_INFO.flags ("sign", "generate-key-pair", ...).
std::vector<std::string_view> token_flag_names(CK_FLAGS flags);
std::vector<std::string_view> mechanism_flag_names(CK_FLAGS flags);

// Every slot with a token present (initialized or not).
std::vector<TokenInfo> list_tokens(const Module& module);

// The one token matching every token and slot attribute the URI gives (object attributes are
// ignored here). Throws not_found when none matches, invalid_input when several do.
TokenInfo find_token(const Module& module, const Uri& uri);

// The token's current info, re-read by serial (slot ids may change).
std::vector<Mechanism> list_mechanisms(const Module& module, CK_SLOT_ID slot);
std::string mechanism_name(CK_MECHANISM_TYPE type);

// Ed25519 when the token can generate Edwards key pairs and sign with CKM_EDDSA, else ECDSA P-256
// when it can generate EC key pairs and sign with CKM_ECDSA; throws invalid_input if neither.
Algorithm choose_algorithm(const std::vector<Mechanism>& mechanisms);

// Initializes the token in the first slot whose token is not yet initialized (C_InitToken with the
// SO PIN, then C_InitPIN for the user PIN) and returns its info as found afterwards by label and
// serial. Refuses a label already used by another token of this module. Labels are 1 to 32 bytes.
TokenInfo init_token(const Module& module, std::string_view label, const Secret& so_pin,
                     const Secret& user_pin);

}  // namespace escrowless::pkcs11
