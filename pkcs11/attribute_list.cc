#include "pkcs11/attribute_list.h"

#include <cstring>

namespace escrowless::pkcs11 {

AttributeList& AttributeList::add_bool(CK_ATTRIBUTE_TYPE type, bool value) {
  entries_.push_back({type, {static_cast<std::uint8_t>(value ? CK_TRUE : CK_FALSE)}});
  return *this;
}

AttributeList& AttributeList::add_ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
  std::vector<std::uint8_t> bytes(sizeof value);
  std::memcpy(bytes.data(), &value, sizeof value);
  entries_.push_back({type, std::move(bytes)});
  return *this;
}

AttributeList& AttributeList::add_bytes(CK_ATTRIBUTE_TYPE type,
                                        std::span<const std::uint8_t> value) {
  entries_.push_back({type, std::vector<std::uint8_t>(value.begin(), value.end())});
  return *this;
}

AttributeList& AttributeList::add_string(CK_ATTRIBUTE_TYPE type, std::string_view value) {
  entries_.push_back({type, std::vector<std::uint8_t>(value.begin(), value.end())});
  return *this;
}

AttributeList AttributeList::without(CK_ATTRIBUTE_TYPE type) const {
  AttributeList copy;
  for (const Entry& entry : entries_) {
    if (entry.type != type) copy.entries_.push_back(entry);
  }
  return copy;
}

std::optional<bool> AttributeList::bool_value(CK_ATTRIBUTE_TYPE type) const {
  for (const Entry& entry : entries_) {
    if (entry.type == type && entry.value.size() == 1) return entry.value[0] != CK_FALSE;
  }
  return std::nullopt;
}

bool AttributeList::has(CK_ATTRIBUTE_TYPE type) const {
  for (const Entry& entry : entries_) {
    if (entry.type == type) return true;
  }
  return false;
}

std::vector<CK_ATTRIBUTE> AttributeList::view() const {
  std::vector<CK_ATTRIBUTE> attributes;
  attributes.reserve(entries_.size());
  for (const Entry& entry : entries_) {
    attributes.push_back({entry.type, const_cast<std::uint8_t*>(entry.value.data()),
                          static_cast<CK_ULONG>(entry.value.size())});
  }
  return attributes;
}

}  // namespace escrowless::pkcs11
