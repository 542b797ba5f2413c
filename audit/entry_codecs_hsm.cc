// hsm.provisioned and hsm.inventory: the entries about the token itself; also
// HsmProvisioned::verifier_key(), which shares the verifier key rules with the reader.
#include <string>

#include "audit/encoding.h"
#include "audit/entry_codecs.h"
#include "audit/entry_json.h"
#include "audit/error.h"
#include "audit/json_path.h"
#include "audit/utf8.h"
#include "audit/verifier_key.h"

namespace escrowless::audit::entry_json {
namespace {

SignatureType signature_type_of(KeyAlgorithm algorithm) {
  return algorithm == KeyAlgorithm::ed25519 ? SignatureType::ed25519 : SignatureType::ecdsa;
}

// The key a verifier key of the log key holds: the raw key for Ed25519 (type 0x01), the DER
// SubjectPublicKeyInfo for ECDSA (type 0x02, as the signed-note spec defines it).
std::vector<uint8_t> verifier_public_key(const TokenKey& key) {
  if (key.algorithm == KeyAlgorithm::ed25519) return key.public_key;
  return public_key_spki(key.algorithm, key.public_key);
}

// The origin doubles as the note key name of the checkpoint signature, so it must satisfy
// both the tlog-checkpoint rules (non-empty, one line) and the stricter key name rules.
std::string read_origin(const json& value, const std::string& path) {
  const std::string& origin = read_string(value, path);
  if (!is_valid_key_name(origin)) {
    fail(path,
         "must be non-empty UTF-8 without spaces, '+' or control characters (it is the "
         "checkpoint origin line and the note key name), got " +
             quote(origin));
  }
  return origin;
}

// The verifier key must be the log key under the origin's name, and nothing else.
void check_verifier_key(const std::string& text, const std::string& path,
                        const HsmProvisioned& entry) {
  VerifierKey vkey = [&] {
    try {
      return parse_verifier_key(text);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::invalid_input) throw;
      fail(path, e.what());
    }
  }();
  if (vkey.name() != entry.origin) {
    fail(path, "key name " + quote(vkey.name()) + " differs from origin " + quote(entry.origin));
  }
  const SignatureType type = signature_type_of(entry.log_key.algorithm);
  if (vkey.type() != type) {
    fail(path, "is a type 0x0" + std::to_string(static_cast<int>(vkey.type())) + " key, but a " +
                   std::string(to_string(entry.log_key.algorithm)) + " log key needs type 0x0" +
                   std::to_string(static_cast<int>(type)));
  }
  if (vkey.public_key() != verifier_public_key(entry.log_key)) {
    fail(path, "holds another key than log_key.public_key");
  }
  // Implied by the checks above and parse_verifier_key's strictness; kept as the definition.
  if (vkey.to_string() != text) fail(path, "not in the one canonical spelling");
}

InventoryObject read_object(const json& value, const std::string& path) {
  const Fields fields(value, path,
                      {"class", "flags", "id", "key_type", "label", "public_key_sha256"});
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
  return object;
}

// The shape of keyservice::attributes_json() plus inventory_json()'s public_key_sha256.
json write_object(const InventoryObject& object) {
  json out = json::object();
  out["class"] = std::string(to_string(object.object_class));
  out["flags"] = object.flags;
  out["id"] = hex_encode(object.id);
  out["label"] = object.label;
  if (object.key_type) out["key_type"] = std::string(to_string(*object.key_type));
  if (object.public_key_sha256) out["public_key_sha256"] = to_hex(*object.public_key_sha256);
  return out;
}

}  // namespace

HsmProvisioned read_hsm_provisioned(const json& entry) {
  const Fields root(entry, "", {"attestation", "log_key", "origin", "time", "token", "type"});
  HsmProvisioned out;
  out.time = read_time(root.required("time"), "time");
  out.origin = read_origin(root.required("origin"), "origin");
  out.token = read_token(root.required("token"), "token");
  std::vector<std::string_view> log_key_fields(kTokenKeyFields.begin(), kTokenKeyFields.end());
  log_key_fields.push_back("verifier_key");
  const Fields log_key(root.required("log_key"), "log_key", std::move(log_key_fields));
  out.log_key = read_token_key(log_key);
  const std::string vkey_path = log_key.path_of("verifier_key");
  check_verifier_key(read_string(log_key.required("verifier_key"), vkey_path), vkey_path, out);
  read_null(root.required("attestation"), "attestation");
  return out;
}

json write_entry(const HsmProvisioned& entry) {
  json out = write_header(to_string(entry.kType), entry.time);
  out["attestation"] = nullptr;
  out["log_key"] = write_token_key(entry.log_key);
  try {
    out["log_key"]["verifier_key"] = entry.verifier_key();
  } catch (const Error&) {
    // A bad origin or key: the reader names the field (see write_token_key).
    out["log_key"]["verifier_key"] = "";
  }
  out["origin"] = entry.origin;
  out["token"] = write_token(entry.token);
  return out;
}

HsmInventory read_hsm_inventory(const json& entry) {
  const Fields root(entry, "", {"attestation", "objects", "time", "token", "type"});
  HsmInventory out;
  out.time = read_time(root.required("time"), "time");
  out.token = read_token(root.required("token"), "token");
  const json& objects = root.required("objects");
  if (!objects.is_array()) {
    fail("objects", std::string("must be an array, got ") + objects.type_name());
  }
  if (objects.size() > kMaxInventoryObjects) {
    fail("objects", "must hold at most " + std::to_string(kMaxInventoryObjects) + " objects, got " +
                        std::to_string(objects.size()));
  }
  out.objects.reserve(objects.size());
  for (std::size_t i = 0; i < objects.size(); ++i) {
    out.objects.push_back(read_object(objects[i], index_path("objects", i)));
  }
  read_null(root.required("attestation"), "attestation");
  return out;
}

json write_entry(const HsmInventory& entry) {
  json out = write_header(to_string(entry.kType), entry.time);
  out["attestation"] = nullptr;
  out["objects"] = json::array();
  for (const InventoryObject& object : entry.objects) {
    out["objects"].push_back(write_object(object));
  }
  out["token"] = write_token(entry.token);
  return out;
}

}  // namespace escrowless::audit::entry_json

namespace escrowless::audit {

std::string HsmProvisioned::verifier_key() const {
  return format_verifier_key(origin, entry_json::signature_type_of(log_key.algorithm),
                             entry_json::verifier_public_key(log_key));
}

}  // namespace escrowless::audit
