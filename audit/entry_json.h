// Reading and writing the JSON shapes that log entries share, with the field path in every
// error ("identity_key.public_key: Ed25519 keys are 32 bytes, got 31"). Internal to the entry
// code (log_entry.cc, entry_codecs_*.cc); other code uses log_entry.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "audit/entry_ids.h"
#include "audit/entry_time.h"
#include "audit/hash.h"
#include "audit/token_objects.h"

namespace escrowless::audit::entry_json {

using nlohmann::json;

// Throws invalid_input "<path>: <what>" ("(top level)" for the empty path).
[[noreturn]] void fail(const std::string& path, const std::string& what);

// The members of one JSON object, checked on construction against the names its shape allows,
// so an unknown field is refused before anything else is read.
class Fields {
 public:
  // Throws invalid_input unless `value` is an object whose keys are all in `allowed`.
  Fields(const json& value, std::string path, std::vector<std::string_view> allowed);

  // The member `name`; throws invalid_input if it is missing. `name` must be allowed.
  const json& required(std::string_view name) const;
  // The member `name`, or nullptr if absent. `name` must be allowed.
  const json* optional(std::string_view name) const;

  std::string path_of(std::string_view name) const;

 private:
  void check_allowed(std::string_view name) const;

  const json& object_;
  std::string path_;
  std::vector<std::string_view> allowed_;
};

// Scalars. Lengths are in bytes.
const std::string& read_string(const json& value, const std::string& path);
std::string read_string(const json& value, const std::string& path, std::size_t min_size,
                        std::size_t max_size);
uint64_t read_integer(const json& value, const std::string& path, uint64_t min, uint64_t max);
void read_null(const json& value, const std::string& path);

// Lowercase hex of min_size to max_size bytes.
std::vector<uint8_t> read_hex(const json& value, const std::string& path, std::size_t min_size,
                              std::size_t max_size);
// Lowercase hex of a SHA-256 hash (64 characters).
Hash read_sha256_hex(const json& value, const std::string& path);
// Strict base64 of exactly `size` bytes; `what` names the plural in the size error
// ("X25519 keys" gives "X25519 keys are 32 bytes, got 31").
std::vector<uint8_t> read_base64(const json& value, const std::string& path, std::size_t size,
                                 std::string_view what);

// {"type": type, "time": time}, the members every entry starts from.
json write_header(std::string_view type, EntryTime time);

// The shared value shapes.
EntryTime read_time(const json& value, const std::string& path);
std::string read_id(const json& value, const std::string& path);
Actor read_actor(const json& value, const std::string& path);
Attributes read_attributes(const json& value, const std::string& path);
Token read_token(const json& value, const std::string& path);
json write_token(const Token& token);

// A TokenKey's members, for Fields built with these names (plus any the caller adds).
inline constexpr std::array<std::string_view, 6> kTokenKeyFields = {
    "algorithm", "attributes", "key_id", "label", "public_key", "public_key_sha256"};
// Reads and checks a TokenKey, including that public_key_sha256 matches the public key.
TokenKey read_token_key(const Fields& fields);
json write_token_key(const TokenKey& key);

}  // namespace escrowless::audit::entry_json
