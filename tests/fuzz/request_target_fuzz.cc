// The path, query and Authorization header of every route (api/request.h path_id, allow_only,
// query_uint, bearer_credential), read as the server reads them: the input's first line is the
// request target ("/v1/log/entries?start=0&count=10"), decoded by cpp-httplib as the server does,
// matched against each route's pattern; the optional second line is the Authorization header.
// Properties: the only exception is ApiError 400 or 401, rendered as valid problem+json; an
// accepted id is 1 to 64 characters of [A-Za-z0-9._-]; an accepted bearer credential is non-empty.
#include <httplib.h>

#include <regex>
#include <string>
#include <vector>

#include "api/problem.h"
#include "api/request.h"
#include "audit/entry_ids.h"
#include "tests/fuzz/api_problem_check.h"
#include "tests/fuzz/fuzz_support.h"

using namespace escrowless;

namespace {

// The query parameters a route takes: allow_only's list, then query_uint on each, in order.
enum class Query { none, entries, inclusion, consistency };

struct Route {
  std::string path;              // the OpenAPI template, as api/*_routes.cc register it
  std::vector<const char*> ids;  // what each {segment} is called in the 400
  Query query = Query::none;
};

const std::vector<Route> kRoutes = {
    {"/v1/accounts/{account}/devices", {"account"}},
    {"/v1/accounts/{account}/devices/{device}", {"account", "device"}},
    {"/v1/accounts/{account}/devices/{device}/prekeys", {"account", "device"}},
    {"/v1/accounts/{account}/devices/{device}/prekeys/count", {"account", "device"}},
    {"/v1/accounts/{account}/devices/{device}/bundle", {"account", "device"}},
    {"/v1/accounts/{account}/bundles", {"account"}},
    {"/v1/log/checkpoint", {}},
    {"/v1/log/entries", {}, Query::entries},
    {"/v1/log/proof/inclusion", {}, Query::inclusion},
    {"/v1/log/proof/consistency", {}, Query::consistency},
};

void read_query(const httplib::Request& request, Query query) {
  switch (query) {
    case Query::none:
      api::allow_only(request, {});
      return;
    case Query::entries:
      api::allow_only(request, {"start", "count"});
      (void)api::query_uint(request, "start");
      (void)api::query_uint(request, "count");
      return;
    case Query::inclusion:
      api::allow_only(request, {"index", "size"});
      (void)api::query_uint(request, "index");
      (void)api::query_uint(request, "size");
      return;
    case Query::consistency:
      api::allow_only(request, {"from", "to"});
      (void)api::query_uint(request, "from");
      (void)api::query_uint(request, "to");
      return;
  }
}

// As HttpServer::add_route turns a template into its pattern: each {name} is one segment.
std::regex pattern_of(const std::string& path) {
  std::string regex;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '{') {
      i = path.find('}', i);
      regex += "([^/]+)";
    } else {
      regex += path[i];
    }
  }
  return std::regex(regex);
}

template <typename Read>
void run(Read read) {
  try {
    read();
  } catch (const api::ApiError& e) {
    fuzz::check_refusal(e, {400, 401});
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const std::vector<std::regex> patterns = [] {
    std::vector<std::regex> out;
    for (const Route& route : kRoutes) out.push_back(pattern_of(route.path));
    return out;
  }();
  // Request lines longer than cpp-httplib's limit never reach a handler.
  if (size > CPPHTTPLIB_REQUEST_URI_MAX_LENGTH) return 0;
  const std::string_view input = fuzz::as_text(data, size);
  const std::size_t newline = input.find('\n');
  const std::string target(input.substr(0, newline));

  httplib::Request request;
  request.method = "GET";
  request.target = target;
  const std::size_t question = target.find('?');
  request.path = httplib::detail::decode_url(target.substr(0, question), false);
  if (question != std::string::npos) httplib::detail::parse_query_text(target.substr(question + 1), request.params);
  if (newline != std::string_view::npos) {
    // One header line: cpp-httplib never delivers a value holding CR or LF.
    const std::string_view line = input.substr(newline + 1);
    request.set_header("Authorization", std::string(line.substr(0, line.find_first_of("\r\n"))));
    run([&] {
      const auto credential = api::bearer_credential(request);
      fuzz::require(credential && !credential->empty(), "an accepted credential is not empty");
    });
  }

  for (std::size_t r = 0; r < kRoutes.size(); ++r) {
    const Route& route = kRoutes[r];
    if (!std::regex_match(request.path, request.matches, patterns[r])) continue;
    run([&] {
      for (std::size_t i = 0; i < route.ids.size(); ++i) {
        const std::string id = api::path_id(request, i + 1, route.ids[i]);
        fuzz::require(audit::is_valid_id(id) && !id.empty() && id.size() <= 64, "an accepted id is valid");
      }
      read_query(request, route.query);
    });
  }
  return 0;
}
