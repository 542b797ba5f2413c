// hsm.inventory, both schemas: schema 1 (no "schema" member) holds a whole inventory in one
// entry, as logs written before inventories had parts do; schema 2 holds one part of an
// inventory (docs/log-format.md 5.5). Also the mechanism list, which hsm.provisioned shares.
#include <cstdio>
#include <string>

#include "audit/canonical_json.h"
#include "audit/encoding.h"
#include "audit/entry_codecs.h"
#include "audit/entry_json.h"
#include "audit/error.h"
#include "audit/json_path.h"

namespace escrowless::audit::entry_json {
namespace {

constexpr uint64_t kMaxJsonInteger = (uint64_t{1} << 53) - 1;

InventoryObject read_object(const json& value, const std::string& path, bool schema2) {
  const Fields fields(value, path,
                      {"class", "flags", "id", "key_type", "label", "proof", "public_key_sha256"});
  InventoryObject object;
  const std::string class_path = fields.path_of("class");
  const std::string& class_name = read_string(fields.required("class"), class_path);
  try {
    object.object_class = parse_object_class(class_name);
  } catch (const Error& e) {
    fail(class_path, e.what());
  }
  if (const json* key_type = fields.optional("key_type")) {
    const std::string key_type_path = fields.path_of("key_type");
    switch (object.object_class) {
      case ObjectClass::public_key:
      case ObjectClass::private_key:
      case ObjectClass::secret_key:
      case ObjectClass::otp_key:
      case ObjectClass::vendor_defined:  // may be a key of a class we can't name
        break;
      default:
        fail(key_type_path, "a " + class_name + " object has no key type");
    }
    const std::string& name = read_string(*key_type, key_type_path);
    try {
      object.key_type = parse_key_type(name);
    } catch (const Error& e) {
      fail(key_type_path, e.what());
    }
  }
  object.id = read_hex(fields.required("id"), fields.path_of("id"), 0, kMaxKeyIdSize);
  object.label =
      read_string(fields.required("label"), fields.path_of("label"), 0, kMaxKeyLabelSize);
  object.flags = read_attributes(fields.required("flags"), fields.path_of("flags"));
  if (const json* hash = fields.optional("public_key_sha256")) {
    const std::string hash_path = fields.path_of("public_key_sha256");
    if (object.object_class != ObjectClass::public_key &&
        object.object_class != ObjectClass::private_key) {
      fail(hash_path, "only public and private keys carry a public key hash, not a " + class_name);
    }
    object.public_key_sha256 = read_sha256_hex(*hash, hash_path);
  }
  // Schema 2: every private key says whether it proved possession, and nothing else does.
  const std::string proof_path = fields.path_of("proof");
  const bool wants_proof = schema2 && object.object_class == ObjectClass::private_key;
  if (const json* proof = fields.optional("proof")) {
    if (!wants_proof) {
      fail(proof_path, schema2 ? "only private keys carry a proof of possession, not a " + class_name
                               : std::string("schema 1 inventories carry no proofs"));
    }
    if (!proof->is_null()) {
      object.proof = read_base64(*proof, proof_path, 64, "proofs of possession");
    }
  } else if (wants_proof) {
    fail(proof_path, "missing (a private key's proof of possession, or null)");
  }
  return object;
}

json write_object(const InventoryObject& object, bool schema2) {
  json out = json::object();
  out["class"] = std::string(to_string(object.object_class));
  out["flags"] = object.flags;
  out["id"] = hex_encode(object.id);
  out["label"] = object.label;
  if (object.key_type) out["key_type"] = std::string(to_string(*object.key_type));
  if (object.public_key_sha256) out["public_key_sha256"] = to_hex(*object.public_key_sha256);
  if (schema2 && object.object_class == ObjectClass::private_key) {
    out["proof"] = object.proof ? json(base64_encode(*object.proof)) : json(nullptr);
  } else if (object.proof) {
    out["proof"] = base64_encode(*object.proof);  // refused by the reader, as it should be
  }
  return out;
}

// "0x" and 8 lowercase hex digits, 16 when the value needs them: the one spelling.
std::string mechanism_text(uint64_t type) {
  char text[24];
  if (type <= 0xffffffffu) {
    std::snprintf(text, sizeof text, "0x%08llx", static_cast<unsigned long long>(type));
  } else {
    std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(type));
  }
  return text;
}

TokenMechanism read_mechanism(const json& value, const std::string& path) {
  const Fields fields(value, path, {"flags", "max_key_size", "mechanism", "min_key_size"});
  TokenMechanism out;
  const std::string type_path = fields.path_of("mechanism");
  const std::string& text = read_string(fields.required("mechanism"), type_path);
  try {
    if (text.size() < 3 || text.substr(0, 2) != "0x") throw invalid_input("");
    out.type = std::stoull(text.substr(2), nullptr, 16);
  } catch (const std::exception&) {
    fail(type_path, "must be \"0x\" and hex digits, got " + quote(text));
  }
  if (mechanism_text(out.type) != text) {
    fail(type_path, "must be spelled " + quote(mechanism_text(out.type)) + ", got " + quote(text));
  }
  out.flags = read_integer(fields.required("flags"), fields.path_of("flags"), 0, 0xffffffffu);
  out.min_key_size =
      read_integer(fields.required("min_key_size"), fields.path_of("min_key_size"), 0, 0xffffffffu);
  out.max_key_size =
      read_integer(fields.required("max_key_size"), fields.path_of("max_key_size"), 0, 0xffffffffu);
  return out;
}

InventoryHeader read_header(const json& value, const std::string& path) {
  const Fields fields(value, path, {"checkpoint", "mechanisms", "objects"});
  InventoryHeader out;
  out.object_count =
      read_integer(fields.required("objects"), fields.path_of("objects"), 0, kMaxInventoryObjectsV2);
  const Fields checkpoint(fields.required("checkpoint"), fields.path_of("checkpoint"), {"root", "size"});
  out.checkpoint.size =
      read_integer(checkpoint.required("size"), checkpoint.path_of("size"), 0, kMaxJsonInteger);
  out.checkpoint.root = read_sha256_hex(checkpoint.required("root"), checkpoint.path_of("root"));
  out.mechanisms = read_mechanisms(fields.required("mechanisms"), fields.path_of("mechanisms"));
  return out;
}

InventoryPart read_part(const json& value, const std::string& path) {
  const Fields fields(value, path, {"first", "id", "part", "parts"});
  InventoryPart out;
  const std::vector<uint8_t> id =
      read_hex(fields.required("id"), fields.path_of("id"), kInventoryIdSize, kInventoryIdSize);
  std::copy(id.begin(), id.end(), out.id.begin());
  out.count = static_cast<uint32_t>(
      read_integer(fields.required("parts"), fields.path_of("parts"), 1, kMaxInventoryObjectsV2));
  out.index = static_cast<uint32_t>(
      read_integer(fields.required("part"), fields.path_of("part"), 0, out.count - 1));
  out.first = read_integer(fields.required("first"), fields.path_of("first"), 0, kMaxInventoryObjectsV2);
  if (out.index == 0 && out.first != 0) fail(fields.path_of("first"), "must be 0 in part 0");
  return out;
}

}  // namespace

std::size_t inventory_object_size(const InventoryObject& object) {
  return canonical_json(write_object(object, true)).size();
}

std::vector<TokenMechanism> read_mechanisms(const json& value, const std::string& path) {
  if (!value.is_array()) fail(path, std::string("must be an array, got ") + value.type_name());
  if (value.size() > kMaxMechanisms) {
    fail(path, "must hold at most " + std::to_string(kMaxMechanisms) + " mechanisms, got " +
                   std::to_string(value.size()));
  }
  std::vector<TokenMechanism> out;
  for (std::size_t i = 0; i < value.size(); ++i) out.push_back(read_mechanism(value[i], index_path(path, i)));
  return out;
}

json write_mechanisms(const std::vector<TokenMechanism>& mechanisms) {
  json out = json::array();
  for (const TokenMechanism& m : mechanisms) {
    out.push_back({{"flags", m.flags},
                   {"max_key_size", m.max_key_size},
                   {"mechanism", mechanism_text(m.type)},
                   {"min_key_size", m.min_key_size}});
  }
  return out;
}

HsmInventory read_hsm_inventory(const json& entry) {
  const bool schema2 = entry.is_object() && entry.contains("schema");
  const Fields root(entry, "",
                    schema2 ? std::vector<std::string_view>{"attestation", "header", "inventory",
                                                            "objects", "schema", "time", "token", "type"}
                            : std::vector<std::string_view>{"attestation", "objects", "time", "token", "type"});
  HsmInventory out;
  if (schema2) read_integer(root.required("schema"), "schema", 2, 2);
  out.time = read_time(root.required("time"), "time");
  out.token = read_token(root.required("token"), "token");
  if (schema2) {
    out.part = read_part(root.required("inventory"), "inventory");
    const json* header = root.optional("header");
    if (out.part->index == 0 && header == nullptr) fail("header", "missing (part 0 carries the header)");
    if (out.part->index != 0 && header != nullptr) fail("header", "only part 0 carries the header");
    if (header != nullptr) out.part->header = read_header(*header, "header");
  }
  const json& objects = root.required("objects");
  if (!objects.is_array()) {
    fail("objects", std::string("must be an array, got ") + objects.type_name());
  }
  const std::size_t most = schema2 ? kMaxInventoryObjectsV2 : kMaxInventoryObjects;
  if (objects.size() > most) {
    fail("objects", "must hold at most " + std::to_string(most) + " objects, got " +
                        std::to_string(objects.size()));
  }
  if (schema2) {
    const uint64_t limit = out.part->header ? out.part->header->object_count : kMaxInventoryObjectsV2;
    if (out.part->first + objects.size() > limit) {
      fail("objects", "reach position " + std::to_string(out.part->first + objects.size()) +
                          ", past the inventory's " + std::to_string(limit) + " objects");
    }
  }
  out.objects.reserve(objects.size());
  for (std::size_t i = 0; i < objects.size(); ++i) {
    out.objects.push_back(read_object(objects[i], index_path("objects", i), schema2));
  }
  read_null(root.required("attestation"), "attestation");
  return out;
}

json write_entry(const HsmInventory& entry) {
  const bool schema2 = entry.part.has_value();
  json out = write_header(to_string(entry.kType), entry.time);
  out["attestation"] = nullptr;
  out["objects"] = json::array();
  for (const InventoryObject& object : entry.objects) {
    out["objects"].push_back(write_object(object, schema2));
  }
  out["token"] = write_token(entry.token);
  if (schema2) {
    const InventoryPart& part = *entry.part;
    out["schema"] = 2;
    out["inventory"] = {{"first", part.first},
                        {"id", hex_encode(part.id)},
                        {"part", part.index},
                        {"parts", part.count}};
    if (part.header) {
      out["header"] = {{"checkpoint",
                        {{"root", to_hex(part.header->checkpoint.root)},
                         {"size", part.header->checkpoint.size}}},
                       {"mechanisms", write_mechanisms(part.header->mechanisms)},
                       {"objects", part.header->object_count}};
    }
  }
  return out;
}

}  // namespace escrowless::audit::entry_json
