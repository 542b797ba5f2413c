#include "pkcs11/object_attributes.h"

#include <array>
#include <cstring>

#include "pkcs11/attribute_policy.h"
#include "pkcs11/error.h"
#include "pkcs11/object_lock.h"

namespace escrowless::pkcs11 {
namespace {

constexpr std::array<FlagSpec, 21> kFlags = {{
    {CKA_TOKEN, "token"},
    {CKA_PRIVATE, "private"},
    {CKA_LOCAL, "local"},
    {CKA_SENSITIVE, "sensitive"},
    {CKA_ALWAYS_SENSITIVE, "always_sensitive"},
    {CKA_EXTRACTABLE, "extractable"},
    {CKA_NEVER_EXTRACTABLE, "never_extractable"},
    {CKA_MODIFIABLE, "modifiable"},
    {CKA_COPYABLE, "copyable"},
    {CKA_DESTROYABLE, "destroyable"},
    {CKA_SIGN, "sign"},
    {CKA_SIGN_RECOVER, "sign_recover"},
    {CKA_VERIFY, "verify"},
    {CKA_VERIFY_RECOVER, "verify_recover"},
    {CKA_ENCRYPT, "encrypt"},
    {CKA_DECRYPT, "decrypt"},
    {CKA_WRAP, "wrap"},
    {CKA_UNWRAP, "unwrap"},
    {CKA_DERIVE, "derive"},
    {CKA_TRUSTED, "trusted"},
    {CKA_WRAP_WITH_TRUSTED, "wrap_with_trusted"},
}};

// C_GetAttributeValue reports an attribute the object lacks (or may not reveal) through its
// return value while still filling in the others; those two answers are not failures here.
void get_attributes(Session& session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE* attributes,
                    CK_ULONG count) {
  const CK_RV rv = session.fn()->C_GetAttributeValue(session.handle(), object, attributes, count);
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE) return;
  check(rv, "C_GetAttributeValue");
}

template <class T>
std::optional<T> read_fixed(Session& session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  T value{};
  CK_ATTRIBUTE attribute{type, &value, sizeof value};
  get_attributes(session, object, &attribute, 1);
  if (attribute.ulValueLen != sizeof value) return std::nullopt;
  return value;
}

std::optional<std::vector<std::uint8_t>> read_unchecked(Session& session, CK_OBJECT_HANDLE object,
                                                        CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE attribute{type, nullptr, 0};
  get_attributes(session, object, &attribute, 1);
  if (attribute.ulValueLen == CK_UNAVAILABLE_INFORMATION) return std::nullopt;
  std::vector<std::uint8_t> value(attribute.ulValueLen);
  attribute.pValue = value.data();
  get_attributes(session, object, &attribute, 1);
  if (attribute.ulValueLen == CK_UNAVAILABLE_INFORMATION) return std::nullopt;
  value.resize(attribute.ulValueLen);
  return value;
}

}  // namespace

std::span<const FlagSpec> flag_specs() { return kFlags; }

std::optional<bool> ObjectAttributes::flag(CK_ATTRIBUTE_TYPE type) const {
  for (const Flag& f : flags) {
    if (f.type == type) return f.value;
  }
  return std::nullopt;
}

std::string_view object_class_name(CK_OBJECT_CLASS object_class) {
  switch (object_class) {
    case CKO_DATA: return "data";
    case CKO_CERTIFICATE: return "certificate";
    case CKO_PUBLIC_KEY: return "public-key";
    case CKO_PRIVATE_KEY: return "private-key";
    case CKO_SECRET_KEY: return "secret-key";
    case CKO_HW_FEATURE: return "hw-feature";
    case CKO_DOMAIN_PARAMETERS: return "domain-parameters";
    case CKO_MECHANISM: return "mechanism";
    case CKO_OTP_KEY: return "otp-key";
    default: return "vendor-defined";
  }
}

std::string_view key_type_name(CK_KEY_TYPE key_type) {
  switch (key_type) {
    case CKK_RSA: return "rsa";
    case CKK_DSA: return "dsa";
    case CKK_DH: return "dh";
    case CKK_EC: return "ec";
    case CKK_EC_EDWARDS: return "ec-edwards";
    case CKK_GENERIC_SECRET: return "generic-secret";
    case CKK_AES: return "aes";
    case CKK_DES3: return "des3";
    default: return "other";
  }
}

std::optional<CK_OBJECT_CLASS> read_object_class(Session& session, CK_OBJECT_HANDLE object) {
  CK_OBJECT_CLASS object_class = 0;
  CK_ATTRIBUTE attribute{CKA_CLASS, &object_class, sizeof object_class};
  const CK_RV rv = session.fn()->C_GetAttributeValue(session.handle(), object, &attribute, 1);
  if (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_ATTRIBUTE_TYPE_INVALID) return std::nullopt;
  check(rv, "C_GetAttributeValue (CKA_CLASS)");
  if (attribute.ulValueLen != sizeof object_class) return std::nullopt;
  return object_class;
}

std::optional<std::vector<std::uint8_t>> read_attribute(Session& session, CK_OBJECT_HANDLE object,
                                                        CK_ATTRIBUTE_TYPE type) {
  const auto object_class = read_object_class(session, object);
  if (!object_class) throw Error(ErrorKind::internal, "object has no readable CKA_CLASS");
  require_readable(*object_class, type);
  return read_unchecked(session, object, type);
}

ValueProbe probe_private_value(Session& session, CK_OBJECT_HANDLE private_key) {
  if (read_object_class(session, private_key) != CKO_PRIVATE_KEY) {
    throw Error(ErrorKind::invalid_input, "the value probe is for private keys only");
  }
  // pValue stays null: the token answers with a length at most, never with the value.
  CK_ATTRIBUTE attribute{private_value_attribute(), nullptr, 0};
  ValueProbe probe;
  probe.rv = session.fn()->C_GetAttributeValue(session.handle(), private_key, &attribute, 1);
  probe.length = attribute.ulValueLen;
  if (probe.rv != CKR_OK && probe.rv != CKR_ATTRIBUTE_SENSITIVE &&
      probe.rv != CKR_ATTRIBUTE_TYPE_INVALID) {
    check(probe.rv, "C_GetAttributeValue (length of the private value)");
  }
  return probe;
}

ObjectAttributes read_object_attributes(Session& session, CK_OBJECT_HANDLE object) {
  ObjectAttributes result;
  const auto object_class = read_object_class(session, object);
  if (!object_class) throw Error(ErrorKind::internal, "object has no readable CKA_CLASS");
  result.object_class = *object_class;
  const bool is_key = result.object_class == CKO_PUBLIC_KEY || result.object_class == CKO_PRIVATE_KEY ||
                      result.object_class == CKO_SECRET_KEY;
  if (is_key) result.key_type = read_fixed<CK_KEY_TYPE>(session, object, CKA_KEY_TYPE);
  result.id = read_unchecked(session, object, CKA_ID).value_or(std::vector<std::uint8_t>{});
  const auto label = read_unchecked(session, object, CKA_LABEL);
  if (label) result.label.assign(label->begin(), label->end());

  // All flags in one call: each is a CK_BBOOL, absent ones come back unavailable.
  std::array<CK_BBOOL, kFlags.size()> values{};
  std::array<CK_ATTRIBUTE, kFlags.size()> attributes{};
  for (std::size_t i = 0; i < kFlags.size(); ++i) {
    attributes[i] = {kFlags[i].type, &values[i], sizeof(CK_BBOOL)};
  }
  get_attributes(session, object, attributes.data(), attributes.size());
  for (std::size_t i = 0; i < kFlags.size(); ++i) {
    std::optional<bool> value;
    if (attributes[i].ulValueLen == sizeof(CK_BBOOL)) value = values[i] != CK_FALSE;
    result.flags.push_back({kFlags[i].type, kFlags[i].name, value});
  }
  return result;
}

std::vector<CK_OBJECT_HANDLE> find_objects(Session& session, const AttributeList& filter) {
  std::vector<CK_ATTRIBUTE> view = filter.view();
  const std::shared_lock searching(token_objects_lock());
  check(session.fn()->C_FindObjectsInit(session.handle(), view.data(), view.size()),
        "C_FindObjectsInit");
  struct Final {  // the search must end, or the session can't start another one
    Session& session;
    ~Final() { session.fn()->C_FindObjectsFinal(session.handle()); }
  } final_guard{session};

  std::vector<CK_OBJECT_HANDLE> found;
  std::array<CK_OBJECT_HANDLE, 64> batch{};
  while (true) {
    CK_ULONG count = 0;
    check(session.fn()->C_FindObjects(session.handle(), batch.data(), batch.size(), &count),
          "C_FindObjects");
    found.insert(found.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(count));
    if (count < batch.size()) break;
  }
  return found;
}

}  // namespace escrowless::pkcs11
