// RFC 7512 PKCS#11 URIs: which module, which token, which object, and where the PIN comes from.
//
//   pkcs11:token=escrowless;serial=46f3f2e31c3a48f7?module-path=/usr/lib/softhsm/libsofthsm2.so
//          &pin-source=file:/srv/escrowless/user-pin
//
// Parsing is strict: an unknown or repeated attribute, a character outside the RFC's grammar or a
// bad percent-encoding is an error naming the offending part. `pin-value` is refused: a PIN in a
// URI ends up in process lists, shell history and logs. `pin-source` takes `file:PATH` (or an
// absolute PATH) as in the RFC, and `env:NAME` as our extension.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pkcs11/cryptoki.h"

namespace escrowless::pkcs11 {

enum class ObjectType { public_key, private_key, certificate, secret_key, data };

std::string_view to_string(ObjectType type);

struct Uri {
  // Path attributes: the token (slot) and the object.
  std::optional<std::string> token;         // CK_TOKEN_INFO.label
  std::optional<std::string> manufacturer;  // CK_TOKEN_INFO.manufacturerID
  std::optional<std::string> serial;        // CK_TOKEN_INFO.serialNumber
  std::optional<std::string> model;         // CK_TOKEN_INFO.model
  std::optional<CK_SLOT_ID> slot_id;
  std::optional<std::string> slot_description;
  std::optional<std::string> slot_manufacturer;
  std::optional<std::string> library_manufacturer;
  std::optional<std::string> library_description;
  std::optional<std::string> library_version;  // "major[.minor]"
  std::optional<std::string> object;           // CKA_LABEL
  std::optional<std::vector<std::uint8_t>> id;  // CKA_ID
  std::optional<ObjectType> type;

  // Query attributes: how to reach and log in to the token.
  std::optional<std::string> module_path;
  std::optional<std::string> module_name;
  std::optional<std::string> pin_source;

  // Throws Error(invalid_input) naming the offending attribute or character.
  static Uri parse(std::string_view text);

  // The canonical text form: attributes in a fixed order, percent-encoded where the grammar needs.
  std::string to_string() const;
};

}  // namespace escrowless::pkcs11
