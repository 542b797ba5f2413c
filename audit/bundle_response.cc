#include "audit/bundle_response.h"

#include <nlohmann/json.hpp>

#include <limits>

#include "audit/encoding.h"
#include "audit/entry_ids.h"
#include "audit/error.h"
#include "audit/json_path.h"
#include "audit/log_entry.h"

namespace escrowless::audit {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw invalid_input(path + ": " + what);
}

const json& member(const json& object, std::string_view parent, std::string_view name) {
  const std::string path = field_path(parent, name);
  const auto found = object.find(std::string(name));
  if (found == object.end()) fail(path, "missing");
  return *found;
}

const json& object_at(const json& value, const std::string& path) {
  if (!value.is_object()) fail(path.empty() ? "(top level)" : path, "must be an object");
  return value;
}

const json& array_at(const json& value, const std::string& path) {
  if (!value.is_array()) fail(path, "must be an array");
  return value;
}

// A JSON integer from 0 to max (nlohmann types a parsed "7" as unsigned, a built 7 as signed).
uint64_t read_uint(const json& value, const std::string& path, uint64_t max) {
  const bool non_negative = value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0);
  if (!non_negative || value.get<uint64_t>() > max) {
    fail(path, "must be an integer from 0 to " + std::to_string(max));
  }
  return value.get<uint64_t>();
}

const std::string& read_string(const json& value, const std::string& path) {
  if (!value.is_string()) fail(path, "must be a string");
  return value.get_ref<const std::string&>();
}

std::vector<uint8_t> read_base64(const json& value, const std::string& path) {
  const std::string& text = read_string(value, path);
  try {
    return base64_decode(text);
  } catch (const Error&) {
    fail(path, "not valid base64");
  }
}

std::vector<uint8_t> read_base64_sized(const json& value, const std::string& path, std::size_t size) {
  std::vector<uint8_t> bytes = read_base64(value, path);
  if (bytes.size() != size) {
    fail(path, "must be " + std::to_string(size) + " bytes, got " + std::to_string(bytes.size()));
  }
  return bytes;
}

std::vector<Hash> read_hashes(const json& value, const std::string& path) {
  std::vector<Hash> hashes;
  for (std::size_t i = 0; i < array_at(value, path).size(); ++i) {
    hashes.push_back(hash_from_bytes(read_base64_sized(value[i], index_path(path, i), kHashSize)));
  }
  return hashes;
}

std::string read_id(const json& value, const std::string& path) {
  const std::string& id = read_string(value, path);
  if (!is_valid_id(id)) fail(path, quote(id) + " is not a valid id (1 to 64 of [A-Za-z0-9._-])");
  return id;
}

ServedPrekey read_prekey(const json& value, const std::string& path) {
  object_at(value, path);
  ServedPrekey prekey;
  const std::string kind_path = field_path(path, "kind");
  try {
    prekey.kind = parse_prekey_kind(read_string(member(value, path, "kind"), kind_path));
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::invalid_input) throw;
    fail(kind_path, "not a prekey kind");
  }
  prekey.key_id = static_cast<uint32_t>(
      read_uint(member(value, path, "key_id"), field_path(path, "key_id"), std::numeric_limits<uint32_t>::max()));
  prekey.public_key = read_base64_sized(member(value, path, "public_key"), field_path(path, "public_key"),
                                        prekey_size(prekey.kind));
  prekey.signature = read_base64_sized(member(value, path, "signature"), field_path(path, "signature"),
                                       kPrekeySignatureSize);
  prekey.log_index = read_uint(member(value, path, "log_index"), field_path(path, "log_index"),
                               std::numeric_limits<uint64_t>::max());
  const std::string batch_path = field_path(path, "batch");
  if (is_one_time(prekey.kind)) {
    const json& batch = object_at(member(value, path, "batch"), batch_path);
    ServedBatchPosition position;
    position.index = static_cast<uint32_t>(
        read_uint(member(batch, batch_path, "index"), field_path(batch_path, "index"), kMaxPrekeyBatch - 1));
    position.path = read_hashes(member(batch, batch_path, "path"), field_path(batch_path, "path"));
    prekey.batch = std::move(position);
  } else if (value.contains("batch")) {
    fail(batch_path, std::string("a ") + std::string(to_string(prekey.kind)) + " is not logged in a batch");
  }
  return prekey;
}

ServedBundle read_bundle(const json& value, const std::string& path) {
  object_at(value, path);
  ServedBundle bundle;
  bundle.account = read_id(member(value, path, "account"), field_path(path, "account"));
  bundle.device = read_id(member(value, path, "device_id"), field_path(path, "device_id"));
  const std::string key_path = field_path(path, "identity_key");
  const json& key = object_at(member(value, path, "identity_key"), key_path);
  const std::string algorithm_path = field_path(key_path, "algorithm");
  try {
    bundle.identity_algorithm = parse_key_algorithm(read_string(member(key, key_path, "algorithm"), algorithm_path));
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::invalid_input) throw;
    fail(algorithm_path, "not a key algorithm");
  }
  bundle.identity_public_key = read_base64_sized(member(key, key_path, "public_key"), field_path(key_path, "public_key"),
                                                 raw_public_key_size(bundle.identity_algorithm));
  bundle.enrolled_index = read_uint(member(key, key_path, "enrolled_index"), field_path(key_path, "enrolled_index"),
                                    std::numeric_limits<uint64_t>::max());
  for (auto [name, slot] : {std::pair{"signed_prekey", &bundle.signed_prekey}, std::pair{"pq_prekey", &bundle.pq_prekey},
                            std::pair{"one_time_prekey", &bundle.one_time_prekey}}) {
    if (value.contains(name)) *slot = read_prekey(value.at(name), field_path(path, name));
  }
  return bundle;
}

ServedEntry read_entry(const json& value, const std::string& path) {
  object_at(value, path);
  ServedEntry entry;
  entry.index = read_uint(member(value, path, "index"), field_path(path, "index"), std::numeric_limits<uint64_t>::max());
  entry.data = read_base64(member(value, path, "data"), field_path(path, "data"));
  entry.inclusion_proof = read_hashes(member(value, path, "inclusion_proof"), field_path(path, "inclusion_proof"));
  return entry;
}

}  // namespace

BundlesResponse parse_bundles_response(const json& response) {
  object_at(response, "");
  BundlesResponse parsed;
  parsed.checkpoint = read_string(member(response, "", "checkpoint"), "checkpoint");
  parsed.tree_size = read_uint(member(response, "", "tree_size"), "tree_size", std::numeric_limits<uint64_t>::max());
  const json& bundles = array_at(member(response, "", "bundles"), "bundles");
  for (std::size_t i = 0; i < bundles.size(); ++i) parsed.bundles.push_back(read_bundle(bundles[i], index_path("bundles", i)));
  const json& entries = array_at(member(response, "", "entries"), "entries");
  for (std::size_t i = 0; i < entries.size(); ++i) parsed.entries.push_back(read_entry(entries[i], index_path("entries", i)));
  return parsed;
}

BundlesResponse parse_bundles_response(std::string_view body) {
  const json response = json::parse(body, nullptr, false);
  if (response.is_discarded()) throw invalid_input("the bundles response is not JSON");
  return parse_bundles_response(response);
}

}  // namespace escrowless::audit
