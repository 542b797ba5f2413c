// An owning list of CK_ATTRIBUTEs for templates and search filters: the values live as long as
// the list, so a CK_ATTRIBUTE never points at a temporary.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "pkcs11/cryptoki.h"

namespace escrowless::pkcs11 {

class AttributeList {
 public:
  AttributeList& add_bool(CK_ATTRIBUTE_TYPE type, bool value);
  AttributeList& add_ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value);
  AttributeList& add_bytes(CK_ATTRIBUTE_TYPE type, std::span<const std::uint8_t> value);
  AttributeList& add_string(CK_ATTRIBUTE_TYPE type, std::string_view value);

  // A copy without the attributes of type `type`.
  AttributeList without(CK_ATTRIBUTE_TYPE type) const;
  // The CK_BBOOL value of the first attribute of type `type`, if there is one.
  std::optional<bool> bool_value(CK_ATTRIBUTE_TYPE type) const;
  bool has(CK_ATTRIBUTE_TYPE type) const;

  // A CK_ATTRIBUTE array pointing into this list; valid until the list is changed or destroyed.
  std::vector<CK_ATTRIBUTE> view() const;
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    CK_ATTRIBUTE_TYPE type;
    std::vector<std::uint8_t> value;  // its heap buffer does not move when entries_ grows
  };
  std::vector<Entry> entries_;
};

// Key-pair templates keep the public and private halves in distinct types, so they can't be
// passed the wrong way round.
struct PublicKeyTemplate {
  AttributeList attributes;
};
struct PrivateKeyTemplate {
  AttributeList attributes;
};
struct KeyPairTemplate {
  CK_MECHANISM_TYPE mechanism;
  PublicKeyTemplate public_key;
  PrivateKeyTemplate private_key;
};

}  // namespace escrowless::pkcs11
