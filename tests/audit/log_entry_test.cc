#include "audit/log_entry.h"

#include <catch2/catch.hpp>
#include <cctype>
#include <functional>
#include <random>
#include <string>

#include "audit/canonical_json.h"
#include "audit/encoding.h"
#include "audit/verifier_key.h"
#include "tests/audit/entry_examples.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using nlohmann::json;
using test::IsInvalidInput;

namespace {

std::string text_of(const std::vector<uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

std::string example_text(const std::string& file) {
  return test::read_data_file("entries/" + file);
}

// The message of the invalid_input that parsing `bytes` throws; fails the test otherwise.
std::string refusal(std::string_view bytes) {
  try {
    parse_entry(bytes);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::invalid_input);
    return e.what();
  }
  FAIL("the entry was accepted");
  return {};
}

std::string to_bytes_refusal(const LogEntry& entry) {
  try {
    entry.to_bytes();
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::invalid_input);
    return e.what();
  }
  FAIL("to_bytes accepted the entry");
  return {};
}

// A malformed variant of a valid entry, and what its refusal must say after "<type>: ".
struct Probe {
  std::string name;
  std::string bytes;
  std::string expect;
};

// The example with one JSON edit, written compact with sorted keys (nlohmann's own dump), so
// the probe differs from a valid entry only by that edit.
std::string edited(const std::string& example, const std::function<void(json&)>& edit) {
  json value = json::parse(example);
  edit(value);
  return value.dump();
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

std::string b64(const std::vector<uint8_t>& bytes) { return base64_encode(bytes); }

// Malformations every entry type must refuse.
std::vector<Probe> common_probes(const std::string& example, const std::string& type) {
  const std::string type_member = ",\"type\":\"" + type + "\"";
  const std::string without_type = replaced(example, type_member, "");
  return {
      {"unknown field", edited(example, [](json& j) { j["comment"] = "hi"; }),
       "comment: unknown field"},
      {"missing time", edited(example, [](json& j) { j.erase("time"); }),
       "time: required field is missing"},
      {"time as a number", edited(example, [](json& j) { j["time"] = 1764165300123; }),
       "time: must be a string, got number"},
      {"time as a float", edited(example, [](json& j) { j["time"] = 1.5; }),
       "canonical JSON: time: only integers"},
      {"February 30", edited(example, [](json& j) { j["time"] = "2026-02-30T00:00:00.000Z"; }),
       "time: no such date"},
      {"time without milliseconds",
       edited(example, [](json& j) { j["time"] = "2026-11-26T13:55:00Z"; }),
       "time: not RFC 3339 UTC time with milliseconds"},
      {"time with an offset",
       edited(example, [](json& j) { j["time"] = "2026-11-26T13:55:00.123+00:00"; }),
       "time: not RFC 3339"},
      {"whitespace after a colon", replaced(example, "\"time\":", "\"time\": "),
       "canonical JSON: not in canonical form"},
      {"trailing newline", example + "\n", "canonical JSON: not in canonical form"},
      {"type first (keys out of order)", "{\"type\":\"" + type + "\"," + without_type.substr(1),
       "canonical JSON: not in canonical form"},
      {"needless escape", replaced(example, "\"time\":\"2", "\"time\":\"\\u0032"),
       "canonical JSON: not in canonical form"},
      {"duplicate key",
       replaced(example, "\"time\":", "\"time\":\"2026-11-26T13:55:00.123Z\",\"time\":"),
       "canonical JSON: time: duplicate key"},
      {"unknown type", replaced(example, type_member, ",\"type\":\"device.updated\""),
       "type: unknown entry type \"device.updated\""},
  };
}

void check_probes(const std::string& type, const std::vector<Probe>& probes) {
  for (const Probe& probe : probes) {
    INFO(probe.name);
    const std::string message = refusal(probe.bytes);
    // An unknown type can't be named, so that one probe says "log entry".
    const bool type_unknown = probe.expect.rfind("type: unknown", 0) == 0;
    CHECK_THAT(message, Catch::StartsWith((type_unknown ? "log entry" : type) + ": "));
    CHECK_THAT(message, Catch::Contains(probe.expect));
  }
}

void run_probes(const std::string& file, const std::string& type,
                const std::vector<Probe>& specific) {
  REQUIRE(specific.size() >= 8);
  check_probes(type, common_probes(example_text(file), type));
  check_probes(type, specific);
}

}  // namespace

TEST_CASE("every example entry round-trips byte for byte", "[unit]") {
  for (const test::Example& example : test::examples()) {
    INFO(example.file);
    const std::string bytes = example_text(example.file);
    const LogEntry parsed = parse_entry(bytes);
    CHECK(parsed == example.entry);
    CHECK(text_of(parsed.to_bytes()) == bytes);
    CHECK(text_of(example.entry.to_bytes()) == bytes);
    CHECK(parse_entry(test::bytes_of(bytes)) == parsed);  // the span overload
    CHECK(to_string(parsed.type()) == json::parse(bytes)["type"].get<std::string>());
    CHECK(format_entry_time(parsed.time()) == json::parse(bytes)["time"].get<std::string>());
  }
}

TEST_CASE("each entry type's to_bytes() gives the LogEntry bytes", "[unit]") {
  CHECK(test::example_hsm_provisioned().to_bytes() ==
        LogEntry{test::example_hsm_provisioned()}.to_bytes());
  CHECK(test::example_device_enrolled().to_bytes() ==
        LogEntry{test::example_device_enrolled()}.to_bytes());
  CHECK(test::example_prekeys_signed().to_bytes() ==
        LogEntry{test::example_prekeys_signed()}.to_bytes());
  CHECK(test::example_device_revoked().to_bytes() ==
        LogEntry{test::example_device_revoked()}.to_bytes());
  CHECK(test::example_hsm_inventory().to_bytes() ==
        LogEntry{test::example_hsm_inventory()}.to_bytes());
}

TEST_CASE("docs/log-format.md shows each example's exact bytes and leaf hash", "[unit]") {
  const std::string docs = test::read_data_file("../../docs/log-format.md");
  for (const test::Example& example : test::examples()) {
    if (!example.in_docs) continue;
    INFO(example.file);
    const std::string bytes = example_text(example.file);
    CHECK(docs.find("```json\n" + bytes + "\n```") != std::string::npos);
    CHECK(docs.find("leaf hash `" + to_hex(leaf_hash(bytes)) + "`") != std::string::npos);
  }
}

TEST_CASE("hsm.provisioned: malformed variants are refused, naming the field", "[unit]") {
  const std::string ex = example_text("hsm.provisioned.json");
  const auto log_key = test::log_key();
  const auto vkey = [](std::string_view name, SignatureType type, const std::vector<uint8_t>& key) {
    return format_verifier_key(name, type, key);
  };
  run_probes(
      "hsm.provisioned.json", "hsm.provisioned",
      {
          {"verifier key named otherwise",
           edited(ex,
                  [&](json& j) {
                    j["log_key"]["verifier_key"] =
                        vkey("other.example/log", SignatureType::ed25519, log_key.public_key);
                  }),
           "log_key.verifier_key: key name \"other.example/log\" differs from origin "
           "\"keys.example.org/log\""},
          {"origin differs from the verifier key name",
           edited(ex, [](json& j) { j["origin"] = "keys.example.org/log2"; }),
           "log_key.verifier_key: key name \"keys.example.org/log\" differs from origin"},
          {"verifier key of another key",
           edited(ex,
                  [&](json& j) {
                    j["log_key"]["verifier_key"] =
                        vkey(test::kOrigin, SignatureType::ed25519, test::device_key().public_key);
                  }),
           "log_key.verifier_key: holds another key than log_key.public_key"},
          {"ECDSA verifier key for an Ed25519 log key",
           edited(ex,
                  [&](json& j) {
                    j["log_key"]["verifier_key"] =
                        vkey(test::kOrigin, SignatureType::ecdsa,
                             public_key_spki(KeyAlgorithm::ecdsa_p256,
                                             hex_decode(test::kLogKeyP256Hex)));
                  }),
           "log_key.verifier_key: is a type 0x02 key, but a ed25519 log key needs type 0x01"},
          {"verifier key with a wrong key id", replaced(ex, "+ef0b0163+", "+ef0b0164+"),
           "log_key.verifier_key: verifier key: key id"},
          {"missing verifier key", edited(ex, [](json& j) { j["log_key"].erase("verifier_key"); }),
           "log_key.verifier_key: required field is missing"},
          {"origin with a space", edited(ex, [](json& j) { j["origin"] = "keys example"; }),
           "origin: must be non-empty UTF-8 without spaces"},
          {"empty origin", edited(ex, [](json& j) { j["origin"] = ""; }), "origin: must be"},
          {"attestation not null", edited(ex, [](json& j) { j["attestation"] = json::object(); }),
           "attestation: must be null (reserved for HSM vendor attestation), got object"},
          {"attestation missing", edited(ex, [](json& j) { j.erase("attestation"); }),
           "attestation: required field is missing"},
          {"public key hash of another key",
           edited(ex,
                  [](json& j) {
                    j["log_key"]["public_key_sha256"] =
                        to_hex(test::device_key().public_key_sha256());
                  }),
           "log_key.public_key_sha256: does not match public_key"},
          {"31-byte public key",
           edited(ex,
                  [&](json& j) {
                    j["log_key"]["public_key"] =
                        b64({log_key.public_key.begin(), log_key.public_key.end() - 1});
                  }),
           "log_key.public_key: Ed25519 keys are 32 bytes, got 31"},
          {"public key without base64 padding",
           edited(ex,
                  [](json& j) {
                    j["log_key"]["public_key"] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo";
                  }),
           "log_key.public_key: base64"},
          {"unknown attribute",
           edited(ex, [](json& j) { j["log_key"]["attributes"]["private_key"]["value"] = false; }),
           "log_key.attributes.private_key.value: unknown PKCS#11 attribute name"},
          {"attribute as a number",
           edited(ex, [](json& j) { j["log_key"]["attributes"]["public_key"]["verify"] = 1; }),
           "log_key.attributes.public_key.verify: must be a boolean, got number"},
          {"unknown algorithm", edited(ex, [](json& j) { j["log_key"]["algorithm"] = "rsa"; }),
           "log_key.algorithm: algorithm must be \"ed25519\" or \"ecdsa-p256\", got \"rsa\""},
          {"33-byte token label",
           edited(ex, [](json& j) { j["token"]["label"] = std::string(33, 'x'); }),
           "token.label: must be 0 to 32 bytes, got 33"},
          {"token without serial", edited(ex, [](json& j) { j["token"].erase("serial"); }),
           "token.serial: required field is missing"},
          {"uppercase key id",
           edited(ex, [](json& j) { j["log_key"]["key_id"] = "88044942A74867A77E1B6F45395D1C9C"; }),
           "log_key.key_id: must be lowercase hex"},
          {"empty key id", edited(ex, [](json& j) { j["log_key"]["key_id"] = ""; }),
           "log_key.key_id: must be hex of 1 to 64 bytes, got 0"},
          {"empty key label", edited(ex, [](json& j) { j["log_key"]["label"] = ""; }),
           "log_key.label: must be 1 to 128 bytes, got 0"},
          {"unknown field in the log key", edited(ex, [](json& j) { j["log_key"]["pem"] = ""; }),
           "log_key.pem: unknown field"},
      });
}

TEST_CASE("device.enrolled: malformed variants are refused, naming the field", "[unit]") {
  const std::string ex = example_text("device.enrolled.json");
  const auto key = test::device_key().public_key;
  run_probes(
      "device.enrolled.json", "device.enrolled",
      {
          {"65-character account", edited(ex, [](json& j) { j["account"] = std::string(65, 'a'); }),
           "account: must be 1 to 64 characters from [A-Za-z0-9._-]"},
          {"account with a slash", edited(ex, [](json& j) { j["account"] = "alice/bob"; }),
           "account: must be 1 to 64 characters from [A-Za-z0-9._-], got \"alice/bob\""},
          {"account as a number", edited(ex, [](json& j) { j["account"] = 7; }),
           "account: must be a string, got number"},
          {"missing device", edited(ex, [](json& j) { j.erase("device"); }),
           "device: required field is missing"},
          {"unknown actor", edited(ex, [](json& j) { j["enrolled_by"] = "root"; }),
           "enrolled_by: actor must be \"admin\" or \"device:<device id>\""},
          {"actor with a bad device id",
           edited(ex, [](json& j) { j["enrolled_by"] = "device:a b"; }),
           "enrolled_by: actor: device id must be"},
          {"31-byte identity key",
           edited(ex,
                  [&](json& j) {
                    j["identity_key"]["public_key"] = b64({key.begin(), key.end() - 1});
                  }),
           "identity_key.public_key: Ed25519 keys are 32 bytes, got 31"},
          {"P-256 algorithm with an Ed25519 key",
           edited(ex, [](json& j) { j["identity_key"]["algorithm"] = "ecdsa-p256"; }),
           "identity_key.public_key: P-256 keys are 65 bytes (0x04 || X || Y), got 32"},
          {"P-256 point off the curve",
           edited(ex,
                  [](json& j) {
                    std::vector<uint8_t> point(65, 7);
                    point[0] = 0x04;
                    j["identity_key"]["algorithm"] = "ecdsa-p256";
                    j["identity_key"]["public_key"] = b64(point);
                  }),
           "identity_key.public_key: "},
          {"public key hash that does not match",
           edited(ex,
                  [](json& j) {
                    j["identity_key"]["public_key_sha256"] =
                        to_hex(test::log_key().public_key_sha256());
                  }),
           "identity_key.public_key_sha256: does not match public_key (SHA-256 of its "
           "SubjectPublicKeyInfo is deb2ded3"},
          {"public key hash in uppercase",
           edited(ex,
                  [](json& j) {
                    std::string hex = j["identity_key"]["public_key_sha256"];
                    for (char& c : hex) {
                      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                    }
                    j["identity_key"]["public_key_sha256"] = hex;
                  }),
           "identity_key.public_key_sha256: must be 64 lowercase hex digits"},
          {"attributes without the public key's",
           edited(ex, [](json& j) { j["identity_key"]["attributes"].erase("public_key"); }),
           "identity_key.attributes.public_key: required field is missing"},
          {"attributes as a list",
           edited(ex,
                  [](json& j) { j["identity_key"]["attributes"]["private_key"] = json::array(); }),
           "identity_key.attributes.private_key: must be an object, got array"},
          {"invalid UTF-8 in the label", replaced(ex, "\"alice.phone\"", "\"alice\xff.phone\""),
           "canonical JSON: syntax error at byte"},
          {"float key id", edited(ex, [](json& j) { j["identity_key"]["key_id"] = 0.5; }),
           "canonical JSON: identity_key.key_id: only integers"},
          {"identity key missing", edited(ex, [](json& j) { j.erase("identity_key"); }),
           "identity_key: required field is missing"},
      });
  // The UTF-8 error above still names the field being read.
  CHECK_THAT(refusal(replaced(ex, "\"alice.phone\"", "\"alice\xff.phone\"")),
             Catch::Contains("(near identity_key.label)"));
}

TEST_CASE("prekeys.signed: malformed variants are refused, naming the field", "[unit]") {
  const std::string ex = example_text("prekeys.signed.json");
  run_probes(
      "prekeys.signed.json", "prekeys.signed",
      {
          {"no prekeys at all",
           edited(ex,
                  [](json& j) {
                    j.erase("signed_prekey");
                    j.erase("one_time_prekeys");
                    j.erase("pq_one_time_prekeys");
                  }),
           "(top level): needs at least one of signed_prekey, pq_last_resort_prekey"},
          {"key id 2^32", edited(ex, [](json& j) { j["signed_prekey"]["key_id"] = 4294967296; }),
           "signed_prekey.key_id: must be from 0 to 4294967295, got 4294967296"},
          {"negative key id", edited(ex, [](json& j) { j["signed_prekey"]["key_id"] = -1; }),
           "signed_prekey.key_id: must be from 0 to 4294967295, got -1"},
          {"key id as a string", edited(ex, [](json& j) { j["signed_prekey"]["key_id"] = "1"; }),
           "signed_prekey.key_id: must be an integer, got string"},
          {"float key id", edited(ex, [](json& j) { j["signed_prekey"]["key_id"] = 1.0; }),
           "canonical JSON: signed_prekey.key_id: only integers"},
          {"33-byte X25519 key",
           edited(ex,
                  [](json& j) {
                    j["signed_prekey"]["public_key"] = b64(std::vector<uint8_t>(33, 9));
                  }),
           "signed_prekey.public_key: X25519 keys are 32 bytes, got 33"},
          {"63-byte signature",
           edited(
               ex,
               [](json& j) { j["signed_prekey"]["signature"] = b64(std::vector<uint8_t>(63, 9)); }),
           "signed_prekey.signature: signatures are 64 bytes, got 63"},
          {"X25519-sized last-resort key",
           edited(ex, [](json& j) { j["pq_last_resort_prekey"] = j["signed_prekey"]; }),
           "pq_last_resort_prekey.public_key: ML-KEM-768 keys are 1184 bytes, got 32"},
          {"empty batch", edited(ex, [](json& j) { j["one_time_prekeys"]["count"] = 0; }),
           "one_time_prekeys.count: must be from 1 to 100, got 0"},
          {"batch of 101", edited(ex, [](json& j) { j["pq_one_time_prekeys"]["count"] = 101; }),
           "pq_one_time_prekeys.count: must be from 1 to 100, got 101"},
          {"root in URL-safe base64",
           edited(ex,
                  [](json& j) {
                    j["one_time_prekeys"]["root"] =
                        "_-" + j["one_time_prekeys"]["root"].get<std::string>().substr(2);
                  }),
           "one_time_prekeys.root: base64"},
          {"31-byte root",
           edited(ex,
                  [](json& j) { j["one_time_prekeys"]["root"] = b64(std::vector<uint8_t>(31)); }),
           "one_time_prekeys.root: Merkle roots are 32 bytes, got 31"},
          {"63-digit identity key hash",
           edited(ex,
                  [](json& j) {
                    j["identity_key_sha256"] =
                        j["identity_key_sha256"].get<std::string>().substr(1);
                  }),
           "identity_key_sha256: must be 64 lowercase hex digits"},
          {"unknown prekey field",
           edited(ex, [](json& j) { j["signed_prekey"]["expires"] = "2027-01-01T00:00:00.000Z"; }),
           "signed_prekey.expires: unknown field"},
          {"batch without root", edited(ex, [](json& j) { j["one_time_prekeys"].erase("root"); }),
           "one_time_prekeys.root: required field is missing"},
          {"device with a slash", edited(ex, [](json& j) { j["device"] = "../phone"; }),
           "device: must be 1 to 64 characters"},
      });
}

TEST_CASE("device.revoked: malformed variants are refused, naming the field", "[unit]") {
  const std::string ex = example_text("device.revoked.json");
  run_probes(
      "device.revoked.json", "device.revoked",
      {
          {"missing revoked_by", edited(ex, [](json& j) { j.erase("revoked_by"); }),
           "revoked_by: required field is missing"},
          {"actor without device id", edited(ex, [](json& j) { j["revoked_by"] = "device:"; }),
           "revoked_by: actor: device id must be"},
          {"actor as null", edited(ex, [](json& j) { j["revoked_by"] = nullptr; }),
           "revoked_by: must be a string, got null"},
          {"identity key hash of 31 bytes",
           edited(ex, [](json& j) { j["identity_key_sha256"] = std::string(62, 'a'); }),
           "identity_key_sha256: must be 64 lowercase hex digits"},
          {"device with a space", edited(ex, [](json& j) { j["device"] = "my phone"; }),
           "device: must be 1 to 64 characters"},
          {"empty account", edited(ex, [](json& j) { j["account"] = ""; }),
           "account: must be 1 to 64 characters"},
          {"a reason field", edited(ex, [](json& j) { j["reason"] = "lost"; }),
           "reason: unknown field"},
          {"lowercase z", edited(ex, [](json& j) { j["time"] = "2027-01-05T09:30:00.000z"; }),
           "time: not RFC 3339"},
          {"February 29 of a common year",
           edited(ex, [](json& j) { j["time"] = "2027-02-29T09:30:00.000Z"; }),
           "time: no such date: \"2027-02-29\""},
          {"hour 24", edited(ex, [](json& j) { j["time"] = "2027-01-05T24:00:00.000Z"; }),
           "time: no such time of day"},
          {"missing identity key hash", edited(ex, [](json& j) { j.erase("identity_key_sha256"); }),
           "identity_key_sha256: required field is missing"},
      });
}

TEST_CASE("hsm.inventory: malformed variants are refused, naming the field", "[unit]") {
  const std::string ex = example_text("hsm.inventory.json");
  run_probes(
      "hsm.inventory.json", "hsm.inventory",
      {
          {"objects as an object", edited(ex, [](json& j) { j["objects"] = json::object(); }),
           "objects: must be an array, got object"},
          {"unknown class", edited(ex, [](json& j) { j["objects"][0]["class"] = "key"; }),
           "objects[0].class: unknown object class \"key\""},
          {"key type on a data object",
           edited(ex,
                  [](json& j) {
                    j["objects"][1]["class"] = "data";
                    j["objects"][1].erase("public_key_sha256");
                  }),
           "objects[1].key_type: a data object has no key type"},
          {"unknown key type", edited(ex, [](json& j) { j["objects"][2]["key_type"] = "ed25519"; }),
           "objects[2].key_type: unknown key type \"ed25519\""},
          {"public key hash on a secret key",
           edited(ex,
                  [](json& j) {
                    j["objects"][0]["class"] = "secret-key";
                    j["objects"][0]["key_type"] = "aes";
                  }),
           "objects[0].public_key_sha256: only public and private keys carry a public key hash"},
          {"odd-length id", edited(ex, [](json& j) { j["objects"][3]["id"] = "abc"; }),
           "objects[3].id: must be lowercase hex"},
          {"129-byte label",
           edited(ex, [](json& j) { j["objects"][3]["label"] = std::string(129, 'l'); }),
           "objects[3].label: must be 0 to 128 bytes, got 129"},
          {"unknown flag", edited(ex, [](json& j) { j["objects"][0]["flags"]["value"] = false; }),
           "objects[0].flags.value: unknown PKCS#11 attribute name"},
          {"null flag", edited(ex, [](json& j) { j["objects"][0]["flags"]["sign"] = nullptr; }),
           "objects[0].flags.sign: must be a boolean, got null"},
          {"object without flags", edited(ex, [](json& j) { j["objects"][2].erase("flags"); }),
           "objects[2].flags: required field is missing"},
          {"object handle field", edited(ex, [](json& j) { j["objects"][1]["handle"] = 2; }),
           "objects[1].handle: unknown field"},
          {"object as a string", edited(ex, [](json& j) { j["objects"][0] = "private-key"; }),
           "objects[0]: must be an object, got string"},
          {"attestation as a string", edited(ex, [](json& j) { j["attestation"] = "vendor"; }),
           "attestation: must be null"},
          {"missing token", edited(ex, [](json& j) { j.erase("token"); }),
           "token: required field is missing"},
          {"public key hash of 63 digits",
           edited(ex, [](json& j) { j["objects"][2]["public_key_sha256"] = std::string(63, 'a'); }),
           "objects[2].public_key_sha256: must be 64 lowercase hex digits"},
      });
}

TEST_CASE("to_bytes refuses invalid entries with the same messages as the parser", "[unit]") {
  DeviceEnrolled enrolled = test::example_device_enrolled();
  enrolled.identity_key.public_key.pop_back();
  CHECK(to_bytes_refusal(LogEntry{enrolled}) ==
        "device.enrolled: identity_key.public_key: Ed25519 keys are 32 bytes, got 31");

  enrolled = test::example_device_enrolled();
  enrolled.account = "alice/bob";
  CHECK_THAT(to_bytes_refusal(LogEntry{enrolled}), Catch::StartsWith("device.enrolled: account: "));

  enrolled = test::example_device_enrolled();
  enrolled.identity_key.label = "bad \xff label";
  CHECK(to_bytes_refusal(LogEntry{enrolled}) ==
        "device.enrolled: canonical JSON: identity_key.label: string is not valid UTF-8");

  enrolled = test::example_device_enrolled();
  enrolled.identity_key.attributes.private_key["sensitiv"] = true;
  CHECK(to_bytes_refusal(LogEntry{enrolled}) ==
        "device.enrolled: identity_key.attributes.private_key.sensitiv: unknown PKCS#11 "
        "attribute name");

  HsmProvisioned provisioned = test::example_hsm_provisioned();
  provisioned.origin = "keys example";
  CHECK_THAT(to_bytes_refusal(LogEntry{provisioned}),
             Catch::StartsWith("hsm.provisioned: origin: "));
  provisioned = test::example_hsm_provisioned();
  provisioned.log_key.public_key = std::vector<uint8_t>(65, 1);
  provisioned.log_key.algorithm = KeyAlgorithm::ecdsa_p256;
  CHECK_THAT(to_bytes_refusal(LogEntry{provisioned}),
             Catch::StartsWith("hsm.provisioned: log_key.public_key: "));

  PrekeysSigned prekeys = test::example_prekeys_signed();
  prekeys.signed_prekey.reset();
  prekeys.one_time_prekeys.reset();
  prekeys.pq_one_time_prekeys.reset();
  CHECK_THAT(to_bytes_refusal(LogEntry{prekeys}), Catch::Contains("needs at least one of"));
  prekeys = test::example_prekeys_signed();
  prekeys.time = EntryTime(std::chrono::sys_days(std::chrono::year{10000} / 1 / 1));
  CHECK(to_bytes_refusal(LogEntry{prekeys}) == "prekeys.signed: time: year outside 0000-9999");

  DeviceRevoked revoked = test::example_device_revoked();
  revoked.revoked_by = Actor::of_device("a:b");
  CHECK_THAT(to_bytes_refusal(LogEntry{revoked}),
             Catch::StartsWith("device.revoked: revoked_by: "));

  HsmInventory inventory = test::example_hsm_inventory();
  inventory.objects[0].object_class = ObjectClass::certificate;
  CHECK_THAT(to_bytes_refusal(LogEntry{inventory}),
             Catch::StartsWith("hsm.inventory: objects[0].key_type: "));
}

TEST_CASE("variants of valid entries round-trip", "[unit]") {
  std::vector<LogEntry> entries;
  // P-256 identity key, enrolled by another device.
  DeviceEnrolled enrolled = test::example_device_enrolled();
  enrolled.identity_key.algorithm = KeyAlgorithm::ecdsa_p256;
  enrolled.identity_key.public_key = hex_decode(test::kLogKeyP256Hex);
  enrolled.identity_key.key_id = std::vector<uint8_t>(kMaxKeyIdSize, 0xab);
  enrolled.identity_key.label = std::string(kMaxKeyLabelSize, 'l');
  enrolled.enrolled_by = Actor::of_device("laptop");
  enrolled.account = std::string(kMaxIdLength, 'a');
  entries.push_back(LogEntry{enrolled});
  // Empty attribute sets (a token that reports no flags) and unusual but valid labels.
  enrolled = test::example_device_enrolled();
  enrolled.identity_key.attributes = {};
  enrolled.identity_key.label = "t\xc3\xa9l\xc3\xa9phone \"1\"\n\x01";
  entries.push_back(LogEntry{enrolled});
  // Each prekey member alone.
  const PrekeysSigned full = test::example_prekeys_signed_full();
  for (int member = 0; member < 4; ++member) {
    PrekeysSigned one = full;
    one.signed_prekey.reset();
    one.pq_last_resort_prekey.reset();
    one.one_time_prekeys.reset();
    one.pq_one_time_prekeys.reset();
    if (member == 0) one.signed_prekey = full.signed_prekey;
    if (member == 1) one.pq_last_resort_prekey = full.pq_last_resort_prekey;
    if (member == 2) one.one_time_prekeys = PrekeyBatch{1, {}};
    if (member == 3) one.pq_one_time_prekeys = PrekeyBatch{kMaxPrekeyBatch, {}};
    entries.push_back(LogEntry{one});
  }
  // An empty inventory of a token with blank fields; objects of every class.
  entries.push_back(LogEntry{HsmInventory{test::example_time("2026-01-01T00:00:00.000Z"), {}, {}, std::nullopt}});
  HsmInventory inventory = test::example_hsm_inventory();
  inventory.objects.push_back(
      InventoryObject{ObjectClass::data, std::nullopt, {}, "", {}, std::nullopt, std::nullopt});
  inventory.objects.push_back(InventoryObject{ObjectClass::secret_key,
                                              KeyType::aes,
                                              {1},
                                              "wrap",
                                              {{"wrap", true}, {"unwrap", true}},
                                              std::nullopt,
                                              std::nullopt});
  inventory.objects.push_back(
      InventoryObject{ObjectClass::vendor_defined, KeyType::other, {}, "", {}, std::nullopt, std::nullopt});
  entries.push_back(LogEntry{inventory});
  entries.push_back(LogEntry{test::example_hsm_provisioned_ecdsa()});

  for (const LogEntry& entry : entries) {
    INFO(to_string(entry.type()));
    const std::vector<uint8_t> bytes = entry.to_bytes();
    const LogEntry parsed = parse_entry(bytes);
    CHECK(parsed == entry);
    CHECK(parsed.to_bytes() == bytes);
  }
}

TEST_CASE("an ECDSA log key's verifier key holds its SPKI with type 0x02", "[unit]") {
  const HsmProvisioned entry = test::example_hsm_provisioned_ecdsa();
  const VerifierKey vkey = parse_verifier_key(entry.verifier_key());
  CHECK(vkey.type() == SignatureType::ecdsa);
  CHECK(vkey.name() == test::kOrigin);
  CHECK(vkey.public_key() == public_key_spki(KeyAlgorithm::ecdsa_p256, entry.log_key.public_key));
  // The type 0x02 key id is the start of the SPKI's SHA-256, i.e. of public_key_sha256.
  CHECK(to_hex(entry.log_key.public_key_sha256()).substr(0, 8) ==
        entry.verifier_key().substr(21, 8));
  // An Ed25519 verifier key for a P-256 log key is refused.
  const std::string ex = example_text("hsm.provisioned-ecdsa.json");
  json j = json::parse(ex);
  j["log_key"]["verifier_key"] =
      format_verifier_key(test::kOrigin, SignatureType::ed25519, hex_decode(test::kLogKeyHex));
  CHECK_THAT(refusal(j.dump()), Catch::Contains("log_key.verifier_key: is a type 0x01 key, but a "
                                                "ecdsa-p256 log key needs type 0x02"));
}

TEST_CASE("inventories hold up to 10000 objects, and the largest fits the size limit", "[unit]") {
  // The largest object entries allow: every field at its maximum, every flag present, and a
  // label of control characters, which canonical JSON escapes as 6 bytes each.
  InventoryObject largest{ObjectClass::domain_parameters,
                          KeyType::generic_secret,
                          std::vector<uint8_t>(kMaxKeyIdSize, 0xff),
                          std::string(kMaxKeyLabelSize, '\x01'),
                          {},
                          std::nullopt,
                          std::nullopt};
  for (const std::string_view name : attribute_names()) largest.flags[std::string(name)] = false;
  largest.object_class = ObjectClass::private_key;
  largest.public_key_sha256 = Hash{};
  const Token token{std::string(kMaxTokenLabelSize, 'x'), std::string(kMaxTokenFieldSize, 'x'),
                    std::string(kMaxTokenFieldSize, 'x'), std::string(kMaxTokenFieldSize, 'x')};
  const EntryTime time = test::example_time("2026-01-01T00:00:00.000Z");
  // Sizes grow linearly with the object count, so two sizes give the size of 10000 objects
  // without building 15 MB under the sanitizers.
  const std::size_t one = HsmInventory{time, token, {largest}, std::nullopt}.to_bytes().size();
  const std::size_t two = HsmInventory{time, token, {largest, largest}, std::nullopt}.to_bytes().size();
  const std::size_t most = one + (kMaxInventoryObjects - 1) * (two - one);
  CHECK(most <= kMaxCanonicalJsonSize);
  CHECK(most > kMaxCanonicalJsonSize / 2);  // the limit is not absurdly loose either

  const InventoryObject small{ObjectClass::data, std::nullopt, {}, "", {}, std::nullopt, std::nullopt};
  HsmInventory inventory{time, token, std::vector<InventoryObject>(kMaxInventoryObjects, small), std::nullopt};
  const std::vector<uint8_t> bytes = inventory.to_bytes();
  CHECK(parse_entry(bytes) == LogEntry{inventory});
  inventory.objects.push_back(small);
  CHECK_THAT(to_bytes_refusal(LogEntry{inventory}),
             Catch::Contains("objects: must hold at most 10000 objects, got 10001"));
}

TEST_CASE("refusals name the type when they can and only echo printable ASCII", "[unit]") {
  CHECK(refusal("[]") == "log entry: (top level): must be an object, got array");
  CHECK(refusal("{}") == "log entry: type: required field is missing");
  CHECK(refusal("{\"type\":7}") == "log entry: type: must be a string, got number");
  CHECK_THAT(refusal(""), Catch::StartsWith("log entry: canonical JSON: syntax error at byte"));
  CHECK_THAT(refusal("{\"type\":\"\xff\"}"), Catch::StartsWith("log entry: canonical JSON: "));
  const std::string message = refusal("{\"type\":\"\\u0001\xc3\xbf\\\"\"}");
  CHECK_THAT(message, Catch::Contains("\"\\x01\\xc3\\xbf\\x22\""));
  // A type found before a later problem names it; so does the canonical "type" at the end.
  CHECK_THAT(refusal("{\"type\":\"device.revoked\",\"x\":1.5}"),
             Catch::StartsWith("device.revoked: canonical JSON: x: only integers"));
}

TEST_CASE("random mutations of example entries are refused or re-encode identically", "[unit]") {
  std::mt19937 rng(20261126);
  for (const test::Example& example : test::examples()) {
    const std::string original = example_text(example.file);
    for (int round = 0; round < 300; ++round) {
      std::string mutated = original;
      const std::size_t at = std::uniform_int_distribution<std::size_t>(0, mutated.size() - 1)(rng);
      switch (round % 4) {
        case 0:
          mutated[at] = static_cast<char>(mutated[at] ^ (1 << (rng() % 8)));
          break;
        case 1:
          mutated.erase(at, 1 + rng() % 3);
          break;
        case 2:
          mutated.insert(at, 1, "\"{}[],: 0a\\\xff"[rng() % 13]);
          break;
        default:
          mutated[at] = static_cast<char>(rng());
          break;
      }
      try {
        const LogEntry entry = parse_entry(mutated);
        CHECK(text_of(entry.to_bytes()) == mutated);  // accepted means canonical and valid
      } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_input);
      }
    }
  }
}
