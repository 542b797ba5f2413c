#include "api/request.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "api/problem.h"
#include "audit/entry_ids.h"

namespace escrowless::api {

void allow_only(const httplib::Request& request, std::initializer_list<std::string_view> allowed) {
  std::set<std::string> seen;
  for (const auto& [name, value] : request.params) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      throw bad_request("unknown query parameter '" + name.substr(0, 64) + "'");
    }
    if (!seen.insert(name).second) throw bad_request("query parameter '" + name + "' appears more than once");
  }
}

std::uint64_t query_uint(const httplib::Request& request, const std::string& name) {
  if (!request.has_param(name.c_str())) throw bad_request("query parameter '" + name + "' is required");
  const std::string value = request.get_param_value(name.c_str());
  std::uint64_t number = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  const bool digits = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
  if (!digits || ec != std::errc() || end != value.data() + value.size()) {
    throw bad_request("query parameter '" + name + "' must be an unsigned decimal integer");
  }
  return number;
}

nlohmann::json json_body(const httplib::Request& request, std::initializer_list<std::string_view> allowed) {
  if (request.body.empty()) return nlohmann::json::object();
  const std::string type = request.get_header_value("Content-Type");
  if (type != "application/json" && !type.starts_with("application/json;")) {
    throw ApiError(415, "unsupported-media-type", "the body must be application/json");
  }
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(request.body);
  } catch (const nlohmann::json::parse_error& e) {
    throw bad_request("the body is not valid JSON (at byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception&) {
    // The parser reports a number beyond double's range (1e309) as out_of_range, not parse_error.
    throw bad_request("the body is not valid JSON (a number is out of range)");
  }
  if (!body.is_object()) throw bad_request("the body must be a JSON object");
  for (const auto& [name, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      throw bad_request("unknown field '" + name.substr(0, 64) + "'");
    }
  }
  return body;
}

std::string path_id(const httplib::Request& request, std::size_t index, const char* what) {
  const std::string id = request.matches[static_cast<int>(index)];
  if (!audit::is_valid_id(id)) {
    throw bad_request(std::string(what) + " id must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
  }
  return id;
}

std::optional<std::string> bearer_credential(const httplib::Request& request) {
  if (!request.has_header("Authorization")) return std::nullopt;
  if (request.get_header_value_count("Authorization") != 1) {
    throw unauthorized("more than one Authorization header");
  }
  const std::string header = request.get_header_value("Authorization");
  constexpr std::string_view kScheme = "bearer ";
  const bool bearer = header.size() > kScheme.size() &&
                      std::equal(kScheme.begin(), kScheme.end(), header.begin(), [](char a, char b) {
                        return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
                      });
  if (!bearer) throw unauthorized("the Authorization header must be 'Bearer <credential>'");
  std::string credential = header.substr(kScheme.size());
  // RFC 6750 token68 characters only; the credential is never echoed.
  const bool token68 = !credential.empty() && credential.size() <= 512 &&
                       std::all_of(credential.begin(), credential.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                                c == '~' || c == '+' || c == '/' || c == '=';
                       });
  if (!token68) throw unauthorized("the bearer credential is malformed");
  return credential;
}

}  // namespace escrowless::api
