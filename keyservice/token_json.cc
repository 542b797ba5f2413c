#include "keyservice/token_json.h"

#include <cstdio>

#include "audit/encoding.h"
#include "pkcs11/padded_text.h"

namespace escrowless::keyservice {
namespace {

std::string version(CK_VERSION v) {
  return std::to_string(v.major) + "." + std::to_string(v.minor);
}

nlohmann::json names(const std::vector<std::string_view>& list) {
  nlohmann::json array = nlohmann::json::array();
  for (const std::string_view name : list) array.push_back(std::string(name));
  return array;
}

}  // namespace

nlohmann::json token_json(const pkcs11::TokenInfo& token, const CK_INFO& library) {
  return {
      {"label", token.label},
      {"manufacturer", token.manufacturer},
      {"model", token.model},
      {"serial", token.serial},
      {"slot_id", token.slot_id},
      {"slot_description", token.slot_description},
      {"flags", names(pkcs11::token_flag_names(token.flags))},
      {"hardware_version", version(token.hardware_version)},
      {"firmware_version", version(token.firmware_version)},
      {"pin_length", {{"min", token.min_pin_length}, {"max", token.max_pin_length}}},
      {"library",
       {{"manufacturer", pkcs11::padded_text(library.manufacturerID)},
        {"description", pkcs11::padded_text(library.libraryDescription)},
        {"version", version(library.libraryVersion)},
        {"cryptoki_version", version(library.cryptokiVersion)}}},
  };
}

nlohmann::json mechanisms_json(const std::vector<pkcs11::Mechanism>& mechanisms) {
  nlohmann::json list = nlohmann::json::array();
  for (const pkcs11::Mechanism& m : mechanisms) {
    char type[24];
    std::snprintf(type, sizeof type, "0x%08lx", static_cast<unsigned long>(m.type));
    list.push_back({{"name", m.name},
                    {"type", type},
                    {"min_key_size", m.min_key_size},
                    {"max_key_size", m.max_key_size},
                    {"flags", names(pkcs11::mechanism_flag_names(m.flags))}});
  }
  nlohmann::json result = {{"mechanisms", list}};
  try {
    result["preferred_algorithm"] = std::string(pkcs11::to_string(pkcs11::choose_algorithm(mechanisms)));
  } catch (const pkcs11::Error&) {
    result["preferred_algorithm"] = nullptr;  // the token can't host our keys
  }
  return result;
}

nlohmann::json attributes_json(const pkcs11::ObjectAttributes& attributes) {
  nlohmann::json flags = nlohmann::json::object();
  for (const pkcs11::Flag& flag : attributes.flags) {
    if (flag.value) flags[std::string(flag.name)] = *flag.value;
  }
  nlohmann::json result = {
      {"class", std::string(pkcs11::object_class_name(attributes.object_class))},
      {"id", audit::hex_encode(attributes.id)},
      {"label", attributes.label},
      {"flags", flags},
  };
  if (attributes.key_type) {
    result["key_type"] = std::string(pkcs11::key_type_name(*attributes.key_type));
  }
  return result;
}

nlohmann::json inventory_json(const std::vector<pkcs11::InventoryItem>& items) {
  nlohmann::json list = nlohmann::json::array();
  for (const pkcs11::InventoryItem& item : items) {
    nlohmann::json entry = attributes_json(item.attributes);
    if (item.public_key_sha256) entry["public_key_sha256"] = audit::hex_encode(*item.public_key_sha256);
    list.push_back(std::move(entry));
  }
  return list;
}

std::string public_key_pem(std::span<const std::uint8_t> spki_der) {
  const std::string body = audit::base64_encode(spki_der);
  std::string pem = "-----BEGIN PUBLIC KEY-----\n";
  for (std::size_t i = 0; i < body.size(); i += 64) pem += body.substr(i, 64) + "\n";
  return pem + "-----END PUBLIC KEY-----\n";
}

nlohmann::json key_pair_json(const pkcs11::KeyPair& key) {
  return {
      {"algorithm", std::string(pkcs11::to_string(key.public_key.algorithm))},
      {"label", key.label},
      {"id", audit::hex_encode(key.id)},
      {"public_key", audit::base64_encode(key.public_key.raw)},
      {"public_key_pem", public_key_pem(key.public_key.spki_der())},
  };
}

}  // namespace escrowless::keyservice
