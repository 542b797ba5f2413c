// What log entries say about PKCS#11 objects: a token's identity, the security flags of an
// object, keys held by the token, and the class and key type names inventories use. The names
// are the ones keyservice/token_json.cc prints, so keyadmin, the API and the log read alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audit/hash.h"
#include "audit/key_algorithm.h"

namespace escrowless::audit {

// The flags of one object, by attribute name ("sensitive" for CKA_SENSITIVE). A name that is
// absent means the token has no such attribute on that object, not "false".
using Attributes = std::map<std::string, bool>;

// The allowed names, in pkcs11::flag_specs() order: token, private, local, sensitive,
// always_sensitive, extractable, never_extractable, modifiable, copyable, destroyable, sign,
// sign_recover, verify, verify_recover, encrypt, decrypt, wrap, unwrap, derive, trusted,
// wrap_with_trusted.
std::span<const std::string_view> attribute_names() noexcept;
bool is_attribute_name(std::string_view name) noexcept;

inline constexpr std::size_t kMaxKeyIdSize = 64;       // CKA_ID bytes
inline constexpr std::size_t kMaxKeyLabelSize = 128;   // CKA_LABEL bytes
inline constexpr std::size_t kMaxTokenLabelSize = 32;  // CK_TOKEN_INFO.label
inline constexpr std::size_t kMaxTokenFieldSize = 64;  // manufacturer, model, serial

// The token an entry speaks of, from CK_TOKEN_INFO (blank padding removed).
struct Token {
  std::string label;         // 0 to 32 bytes
  std::string manufacturer;  // 0 to 64 bytes
  std::string model;         // 0 to 64 bytes
  std::string serial;        // 0 to 64 bytes

  friend bool operator==(const Token&, const Token&) = default;
};

struct KeyAttributes {
  Attributes private_key;
  Attributes public_key;

  friend bool operator==(const KeyAttributes&, const KeyAttributes&) = default;
};

// A key pair generated in the token: the log key, or a device identity key.
struct TokenKey {
  KeyAlgorithm algorithm = KeyAlgorithm::ed25519;
  std::vector<uint8_t> key_id;      // CKA_ID, 1 to 64 bytes
  std::string label;                // CKA_LABEL, 1 to 128 bytes of UTF-8
  std::vector<uint8_t> public_key;  // raw: 32 bytes (Ed25519) or 65 (P-256, uncompressed)
  KeyAttributes attributes;         // of the private and the public object

  // The entry's `public_key_sha256`: derived, never stored, so it can't disagree with the key.
  // Throws invalid_input if the public key is malformed (see public_key_sha256()).
  Hash public_key_sha256() const { return audit::public_key_sha256(algorithm, public_key); }

  friend bool operator==(const TokenKey&, const TokenKey&) = default;
};

// CKA_CLASS as inventories name it; every class PKCS#11 does not define here (CKO_PROFILE,
// CKO_VENDOR_DEFINED and above, ...) is vendor_defined.
enum class ObjectClass {
  data,
  certificate,
  public_key,
  private_key,
  secret_key,
  hw_feature,
  domain_parameters,
  mechanism,
  otp_key,
  vendor_defined,
};

// CKA_KEY_TYPE as inventories name it; every other type is `other`.
enum class KeyType { rsa, dsa, dh, ec, ec_edwards, generic_secret, aes, des3, other };

// "private-key", "ec-edwards", ...; the parsers throw invalid_input on any other name.
std::string_view to_string(ObjectClass object_class) noexcept;
std::string_view to_string(KeyType key_type) noexcept;
ObjectClass parse_object_class(std::string_view name);
KeyType parse_key_type(std::string_view name);

}  // namespace escrowless::audit
