// Reading objects' attributes and finding objects, always through the attribute policy.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pkcs11/attribute_list.h"
#include "pkcs11/cryptoki.h"
#include "pkcs11/session.h"

namespace escrowless::pkcs11 {

// The security and capability flags we read and report, with their names in JSON and log entries.
struct FlagSpec {
  CK_ATTRIBUTE_TYPE type;
  std::string_view name;
};
std::span<const FlagSpec> flag_specs();

struct Flag {
  CK_ATTRIBUTE_TYPE type;
  std::string_view name;
  std::optional<bool> value;  // nullopt: the object has no such attribute
};

struct ObjectAttributes {
  CK_OBJECT_CLASS object_class = 0;
  std::optional<CK_KEY_TYPE> key_type;  // public, private and secret keys only
  std::vector<std::uint8_t> id;
  std::string label;
  std::vector<Flag> flags;  // in flag_specs() order

  std::optional<bool> flag(CK_ATTRIBUTE_TYPE type) const;
};

std::string_view object_class_name(CK_OBJECT_CLASS object_class);  // "private-key", ...
std::string_view key_type_name(CK_KEY_TYPE key_type);              // "ec-edwards", ...

// One variable-length attribute, after the policy check; nullopt when the object has no such
// attribute. Reads CKA_CLASS first so the policy knows what kind of object it is.
std::optional<std::vector<std::uint8_t>> read_attribute(Session& session, CK_OBJECT_HANDLE object,
                                                        CK_ATTRIBUTE_TYPE type);

ObjectAttributes read_object_attributes(Session& session, CK_OBJECT_HANDLE object);

// The object's CKA_CLASS; nullopt when the token cannot read it (a broken object: every PKCS#11
// object has a class). Other failures throw.
std::optional<CK_OBJECT_CLASS> read_object_class(Session& session, CK_OBJECT_HANDLE object);

// Whether the token would hand out a private key's secret value, asked the one way that cannot
// bring it here: a length query, with a null buffer. A token that would
// reveal the value answers CKR_OK and its length; one that protects it answers
// CKR_ATTRIBUTE_SENSITIVE (or CKR_ATTRIBUTE_TYPE_INVALID: tpm2-pkcs11 shows no such attribute)
// or a length of CK_UNAVAILABLE_INFORMATION. For `keyadmin token check` on its throwaway key;
// nothing else needs to ask.
struct ValueProbe {
  CK_RV rv = CKR_OK;
  CK_ULONG length = CK_UNAVAILABLE_INFORMATION;
  bool refused() const { return rv != CKR_OK || length == CK_UNAVAILABLE_INFORMATION; }
};
ValueProbe probe_private_value(Session& session, CK_OBJECT_HANDLE private_key);

// Every object matching `filter` (all objects the session can see for an empty filter).
// C_FindObjectsFinal always runs.
std::vector<CK_OBJECT_HANDLE> find_objects(Session& session, const AttributeList& filter);

}  // namespace escrowless::pkcs11
