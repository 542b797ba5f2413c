// Reading requests strictly: query parameters, bearer credentials. Every violation is an
// ApiError naming the parameter.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace escrowless::api {

// Refuses any query parameter not in `allowed`, and repeated ones.
void allow_only(const httplib::Request& request, std::initializer_list<std::string_view> allowed);

// A required unsigned decimal parameter: digits only, no sign, fits in 64 bits.
std::uint64_t query_uint(const httplib::Request& request, const std::string& name);

// The request body as a JSON object. An empty body is {}. Otherwise it must be
// application/json (415), valid JSON (400 naming the position), an object, and hold only
// `allowed` members (400 naming the first unknown one).
nlohmann::json json_body(const httplib::Request& request, std::initializer_list<std::string_view> allowed);

// Path parameter `index` of the route (request.matches), which must be an account or device
// id (1 to 64 of [A-Za-z0-9._-]); `what` names it in the 400.
std::string path_id(const httplib::Request& request, std::size_t index, const char* what);

// The credential of "Authorization: Bearer <credential>", or nullopt when there is no
// Authorization header. A malformed header is an ApiError(401).
std::optional<std::string> bearer_credential(const httplib::Request& request);

}  // namespace escrowless::api
