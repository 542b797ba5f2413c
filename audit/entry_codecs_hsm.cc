// hsm.provisioned: the entry about the token, its mechanisms (schema 2) and the log key
// (hsm.inventory is in entry_codecs_inventory.cc); also HsmProvisioned::verifier_key(), which shares the verifier
// key rules with the reader.
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

}  // namespace

HsmProvisioned read_hsm_provisioned(const json& entry) {
  const bool schema2 = entry.is_object() && entry.contains("schema");
  const Fields root(entry, "",
                    schema2 ? std::vector<std::string_view>{"attestation", "log_key", "mechanisms", "origin",
                                                            "schema", "time", "token", "type"}
                            : std::vector<std::string_view>{"attestation", "log_key", "origin", "time", "token", "type"});
  HsmProvisioned out;
  if (schema2) read_integer(root.required("schema"), "schema", 2, 2);
  out.time = read_time(root.required("time"), "time");
  out.origin = read_origin(root.required("origin"), "origin");
  out.token = read_token(root.required("token"), "token");
  std::vector<std::string_view> log_key_fields(kTokenKeyFields.begin(), kTokenKeyFields.end());
  log_key_fields.push_back("verifier_key");
  const Fields log_key(root.required("log_key"), "log_key", std::move(log_key_fields));
  out.log_key = read_token_key(log_key);
  const std::string vkey_path = log_key.path_of("verifier_key");
  check_verifier_key(read_string(log_key.required("verifier_key"), vkey_path), vkey_path, out);
  if (schema2) out.mechanisms = read_mechanisms(root.required("mechanisms"), "mechanisms");
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
  if (entry.mechanisms) {
    out["schema"] = 2;
    out["mechanisms"] = write_mechanisms(*entry.mechanisms);
  }
  return out;
}

}  // namespace escrowless::audit::entry_json

namespace escrowless::audit {

std::string HsmProvisioned::verifier_key() const {
  return format_verifier_key(origin, entry_json::signature_type_of(log_key.algorithm),
                             entry_json::verifier_public_key(log_key));
}

}  // namespace escrowless::audit
