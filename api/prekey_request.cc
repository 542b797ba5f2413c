#include "api/prekey_request.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "api/problem.h"
#include "api/request.h"
#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/log_entry.h"

namespace escrowless::api {
namespace {

using nlohmann::json;

keyservice::UnsignedPrekey read_prekey(const json& value, const std::string& where) {
  if (!value.is_object()) throw bad_request(where + ": must be an object with key_id and public_key");
  for (const auto& [name, member] : value.items()) {
    if (name != "key_id" && name != "public_key") throw bad_request(where + ": unknown field '" + name.substr(0, 64) + "'");
  }
  if (!value.contains("key_id") || !value.at("key_id").is_number_unsigned() ||
      value.at("key_id").get<std::uint64_t>() > UINT32_MAX) {
    throw bad_request(where + ".key_id: must be an integer from 0 to 4294967295");
  }
  if (!value.contains("public_key") || !value.at("public_key").is_string()) {
    throw bad_request(where + ".public_key: must be a base64 string");
  }
  keyservice::UnsignedPrekey prekey;
  prekey.key_id = static_cast<std::uint32_t>(value.at("key_id").get<std::uint64_t>());
  try {
    prekey.public_key = audit::base64_decode(value.at("public_key").get<std::string>());
  } catch (const audit::Error&) {
    throw bad_request(where + ".public_key: not valid base64");
  }
  return prekey;
}

std::vector<keyservice::UnsignedPrekey> read_prekeys(const json& value, const std::string& where) {
  if (!value.is_array()) throw bad_request(where + ": must be an array");
  if (value.size() > audit::kMaxPrekeyBatch) throw bad_request(where + ": at most 100 keys");
  std::vector<keyservice::UnsignedPrekey> prekeys;
  for (std::size_t i = 0; i < value.size(); ++i) {
    prekeys.push_back(read_prekey(value[i], where + "[" + std::to_string(i) + "]"));
  }
  return prekeys;
}

}  // namespace

keyservice::PrekeyUploadRequest read_prekey_upload(const httplib::Request& request) {
  const json body = json_body(request, {"signed_prekey", "pq_last_resort_prekey", "one_time_prekeys", "pq_one_time_prekeys"});
  keyservice::PrekeyUploadRequest upload;
  if (body.contains("signed_prekey")) upload.signed_prekey = read_prekey(body.at("signed_prekey"), "signed_prekey");
  if (body.contains("pq_last_resort_prekey")) {
    upload.pq_last_resort_prekey = read_prekey(body.at("pq_last_resort_prekey"), "pq_last_resort_prekey");
  }
  if (body.contains("one_time_prekeys")) upload.one_time_prekeys = read_prekeys(body.at("one_time_prekeys"), "one_time_prekeys");
  if (body.contains("pq_one_time_prekeys")) {
    upload.pq_one_time_prekeys = read_prekeys(body.at("pq_one_time_prekeys"), "pq_one_time_prekeys");
  }
  return upload;
}

}  // namespace escrowless::api
