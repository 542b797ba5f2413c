#include "audit/entry_json.h"

#include <algorithm>
#include <utility>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/json_path.h"

namespace escrowless::audit::entry_json {
namespace {

[[noreturn]] void wrong_type(const json& value, const std::string& path, std::string_view want) {
  fail(path, "must be " + std::string(want) + ", got " + value.type_name());
}

// Runs `parse`, giving any invalid_input it throws the path of the value it was parsing.
template <typename Parse>
auto at_path(const std::string& path, Parse&& parse) {
  try {
    return parse();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::invalid_input) throw;
    fail(path, e.what());
  }
}

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string size_range(std::size_t min_size, std::size_t max_size) {
  return min_size == max_size ? std::to_string(min_size)
                              : std::to_string(min_size) + " to " + std::to_string(max_size);
}

}  // namespace

void fail(const std::string& path, const std::string& what) {
  throw invalid_input((path.empty() ? std::string("(top level)") : path) + ": " + what);
}

Fields::Fields(const json& value, std::string path, std::vector<std::string_view> allowed)
    : object_(value), path_(std::move(path)), allowed_(std::move(allowed)) {
  if (!object_.is_object()) wrong_type(object_, path_, "an object");
  for (const auto& [key, item] : object_.items()) {
    if (std::find(allowed_.begin(), allowed_.end(), key) == allowed_.end()) {
      fail(field_path(path_, key), "unknown field");
    }
  }
}

void Fields::check_allowed(std::string_view name) const {
  // A programming error in an entry reader, not bad input.
  if (std::find(allowed_.begin(), allowed_.end(), name) == allowed_.end()) {
    throw Error(ErrorKind::internal, "entry reader asked for undeclared field " + path_of(name));
  }
}

const json& Fields::required(std::string_view name) const {
  const json* value = optional(name);
  if (value == nullptr) fail(path_of(name), "required field is missing");
  return *value;
}

const json* Fields::optional(std::string_view name) const {
  check_allowed(name);
  const auto found = object_.find(name);
  return found == object_.end() ? nullptr : &*found;
}

std::string Fields::path_of(std::string_view name) const { return field_path(path_, name); }

const std::string& read_string(const json& value, const std::string& path) {
  if (!value.is_string()) wrong_type(value, path, "a string");
  return value.get_ref<const std::string&>();
}

std::string read_string(const json& value, const std::string& path, std::size_t min_size,
                        std::size_t max_size) {
  const std::string& text = read_string(value, path);
  if (text.size() < min_size || text.size() > max_size) {
    fail(path, "must be " + size_range(min_size, max_size) + " bytes, got " +
                   std::to_string(text.size()));
  }
  return text;
}

uint64_t read_integer(const json& value, const std::string& path, uint64_t min, uint64_t max) {
  if (!value.is_number_integer()) wrong_type(value, path, "an integer");
  // Canonical JSON holds non-negative integers as unsigned, negative ones as signed.
  if (!value.is_number_unsigned() || value.get<uint64_t>() < min || value.get<uint64_t>() > max) {
    fail(path, "must be from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
                   value.dump());
  }
  return value.get<uint64_t>();
}

void read_null(const json& value, const std::string& path) {
  if (!value.is_null()) wrong_type(value, path, "null (reserved for HSM vendor attestation)");
}

std::vector<uint8_t> read_hex(const json& value, const std::string& path, std::size_t min_size,
                              std::size_t max_size) {
  const std::string& text = read_string(value, path);
  if (text.size() % 2 != 0 || !is_lower_hex(text)) fail(path, "must be lowercase hex");
  std::vector<uint8_t> bytes = hex_decode(text);
  if (bytes.size() < min_size || bytes.size() > max_size) {
    fail(path, "must be hex of " + size_range(min_size, max_size) + " bytes, got " +
                   std::to_string(bytes.size()));
  }
  return bytes;
}

Hash read_sha256_hex(const json& value, const std::string& path) {
  const std::string& text = read_string(value, path);
  if (text.size() != 2 * kHashSize || !is_lower_hex(text)) {
    fail(path, "must be 64 lowercase hex digits (a SHA-256 hash)");
  }
  return hash_from_bytes(hex_decode(text));
}

std::vector<uint8_t> read_base64(const json& value, const std::string& path, std::size_t size,
                                 std::string_view what) {
  const std::string& text = read_string(value, path);
  std::vector<uint8_t> bytes = at_path(path, [&] { return base64_decode(text); });
  if (bytes.size() != size) {
    fail(path, std::string(what) + " are " + std::to_string(size) + " bytes, got " +
                   std::to_string(bytes.size()));
  }
  return bytes;
}

json write_header(std::string_view type, EntryTime time) {
  json out = json::object();
  out["type"] = std::string(type);
  out["time"] = format_entry_time(time);
  return out;
}

EntryTime read_time(const json& value, const std::string& path) {
  const std::string& text = read_string(value, path);
  return at_path(path, [&] { return parse_entry_time(text); });
}

std::string read_id(const json& value, const std::string& path) {
  const std::string& text = read_string(value, path);
  if (!is_valid_id(text)) {
    fail(path, "must be 1 to " + std::to_string(kMaxIdLength) +
                   " characters from [A-Za-z0-9._-], got " + quote(text));
  }
  return text;
}

Actor read_actor(const json& value, const std::string& path) {
  const std::string& text = read_string(value, path);
  return at_path(path, [&] { return parse_actor(text); });
}

Attributes read_attributes(const json& value, const std::string& path) {
  if (!value.is_object()) wrong_type(value, path, "an object");
  Attributes attributes;
  for (const auto& [name, flag] : value.items()) {
    const std::string flag_path = field_path(path, name);
    if (!is_attribute_name(name)) fail(flag_path, "unknown PKCS#11 attribute name");
    if (!flag.is_boolean()) wrong_type(flag, flag_path, "a boolean");
    attributes.emplace(name, flag.get<bool>());
  }
  return attributes;
}

Token read_token(const json& value, const std::string& path) {
  const Fields fields(value, path, {"label", "manufacturer", "model", "serial"});
  return Token{
      read_string(fields.required("label"), fields.path_of("label"), 0, kMaxTokenLabelSize),
      read_string(fields.required("manufacturer"), fields.path_of("manufacturer"), 0,
                  kMaxTokenFieldSize),
      read_string(fields.required("model"), fields.path_of("model"), 0, kMaxTokenFieldSize),
      read_string(fields.required("serial"), fields.path_of("serial"), 0, kMaxTokenFieldSize),
  };
}

json write_token(const Token& token) {
  json out = json::object();
  out["label"] = token.label;
  out["manufacturer"] = token.manufacturer;
  out["model"] = token.model;
  out["serial"] = token.serial;
  return out;
}

TokenKey read_token_key(const Fields& fields) {
  TokenKey key;
  const std::string algorithm_path = fields.path_of("algorithm");
  const std::string& algorithm = read_string(fields.required("algorithm"), algorithm_path);
  key.algorithm = at_path(algorithm_path, [&] { return parse_key_algorithm(algorithm); });
  key.key_id = read_hex(fields.required("key_id"), fields.path_of("key_id"), 1, kMaxKeyIdSize);
  key.label = read_string(fields.required("label"), fields.path_of("label"), 1, kMaxKeyLabelSize);

  const std::string key_path = fields.path_of("public_key");
  const std::string& key64 = read_string(fields.required("public_key"), key_path);
  key.public_key = at_path(key_path, [&] { return base64_decode(key64); });
  const Hash expected = at_path(key_path, [&] { return key.public_key_sha256(); });
  const std::string hash_path = fields.path_of("public_key_sha256");
  if (read_sha256_hex(fields.required("public_key_sha256"), hash_path) != expected) {
    fail(hash_path, "does not match public_key (SHA-256 of its SubjectPublicKeyInfo is " +
                        to_hex(expected) + ")");
  }

  const Fields attributes(fields.required("attributes"), fields.path_of("attributes"),
                          {"private_key", "public_key"});
  key.attributes.private_key =
      read_attributes(attributes.required("private_key"), attributes.path_of("private_key"));
  key.attributes.public_key =
      read_attributes(attributes.required("public_key"), attributes.path_of("public_key"));
  return key;
}

json write_token_key(const TokenKey& key) {
  json out = json::object();
  out["algorithm"] = std::string(to_string(key.algorithm));
  out["attributes"]["private_key"] = key.attributes.private_key;
  out["attributes"]["public_key"] = key.attributes.public_key;
  out["key_id"] = hex_encode(key.key_id);
  out["label"] = key.label;
  out["public_key"] = base64_encode(key.public_key);
  try {
    out["public_key_sha256"] = to_hex(key.public_key_sha256());
  } catch (const Error&) {
    // A malformed key: write a placeholder and let the reader, which to_bytes() runs on every
    // entry it writes, report the key's own error with its path.
    out["public_key_sha256"] = "";
  }
  return out;
}

}  // namespace escrowless::audit::entry_json
