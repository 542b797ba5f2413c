#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tests/api/server_fixture.h"

using escrowless::testing::ServerFixture;
using nlohmann::json;

namespace {

struct Case {
  std::string method;
  std::string path;
  int status;
  std::string detail_part;  // the problem's detail must name what is wrong
  httplib::Headers headers = {};
  std::string body = {};
};

}  // namespace

TEST_CASE("api: malformed and unauthorized requests get problem+json naming the fault", "[http][hsm]") {
  ServerFixture server;
  server.log().append("{\"n\":0}").get();
  server.log().append("{\"n\":1}").get();
  const std::string admin = server.admin_headers().begin()->second;
  const std::vector<Case> cases = {
      {"GET", "/v1/log/entries", 400, "'start' is required"},
      {"GET", "/v1/log/entries?start=0", 400, "'count' is required"},
      {"GET", "/v1/log/entries?start=-1&count=1", 400, "'start' must be an unsigned decimal integer"},
      {"GET", "/v1/log/entries?start=0x1&count=1", 400, "'start' must be an unsigned decimal integer"},
      {"GET", "/v1/log/entries?start=%2B1&count=1", 400, "'start' must be an unsigned decimal integer"},
      {"GET", "/v1/log/entries?start=99999999999999999999&count=1", 400, "'start' must be an unsigned"},
      {"GET", "/v1/log/entries?start=0&count=0", 400, "'count' must be at least 1"},
      {"GET", "/v1/log/entries?start=2&count=1", 400, "beyond the newest checkpoint"},
      {"GET", "/v1/log/entries?start=18446744073709551615&count=2", 400, "beyond the newest checkpoint"},
      {"GET", "/v1/log/entries?start=0&count=1&extra=1", 400, "unknown query parameter 'extra'"},
      {"GET", "/v1/log/entries?start=0&start=1&count=1", 400, "appears more than once"},
      {"GET", "/v1/log/entries?start=&count=1", 400, "'start' must be an unsigned"},
      {"GET", "/v1/log/proof/inclusion?index=2&size=2", 400, "index"},
      {"GET", "/v1/log/proof/inclusion?index=0&size=3", 400, "beyond the newest checkpoint"},
      {"GET", "/v1/log/proof/inclusion?index=0", 400, "'size' is required"},
      {"GET", "/v1/log/proof/inclusion?index=a&size=2", 400, "'index' must be"},
      {"GET", "/v1/log/proof/consistency?from=0&to=2", 400, ""},
      {"GET", "/v1/log/proof/consistency?from=2&to=1", 400, ""},
      {"GET", "/v1/log/proof/consistency?from=1&to=5", 400, "beyond the newest checkpoint"},
      {"GET", "/v1/log/proof/consistency?to=2", 400, "'from' is required"},
      {"GET", "/v1/log/checkpoint?x=1", 400, "unknown query parameter 'x'"},
      {"GET", "/healthz?verbose=1", 400, "unknown query parameter"},
      {"GET", "/v1/nothing", 404, "no such route"},
      {"GET", "/v1/log", 404, "no such route"},
      {"DELETE", "/v1/log/checkpoint", 404, "no such route"},
      {"GET", "/v1/admin/token", 401, "needs the admin credential"},
      {"GET", "/v1/admin/token", 401, "not valid", {{"Authorization", "Bearer wrong-credential"}}},
      {"GET", "/v1/admin/token", 401, "must be 'Bearer <credential>'", {{"Authorization", "Basic YWRtaW46YWRtaW4="}}},
      {"GET", "/v1/admin/token", 401, "malformed", {{"Authorization", "Bearer a b"}}},
      {"GET", "/v1/admin/token", 401, "more than one", {{"Authorization", admin}, {"Authorization", admin}}},
      {"POST", "/v1/admin/inventory", 401, "needs the admin credential"},
      {"POST", "/v1/admin/inventory", 400, "takes no body", {{"Authorization", admin}}, "{}"},
      {"POST", "/v1/admin/inventory", 413, "larger than allowed", {{"Authorization", admin}}, std::string(70000, 'x')},
  };
  auto client = server.client();
  for (const Case& c : cases) {
    INFO(c.method << " " << c.path);
    httplib::Result result = c.method == "GET"      ? client->Get(c.path.c_str(), c.headers)
                             : c.method == "DELETE" ? client->Delete(c.path.c_str(), c.headers)
                                                    : client->Post(c.path.c_str(), c.headers, c.body, "application/json");
    REQUIRE(result);
    INFO(result->body);
    CHECK(result->status == c.status);
    CHECK(result->get_header_value("Content-Type") == "application/problem+json");
    const json problem = json::parse(result->body);
    CHECK(problem.at("status") == c.status);
    CHECK(problem.at("type").get<std::string>().starts_with("urn:escrowless:problem:"));
    CHECK_THAT(problem.at("detail").get<std::string>(), Catch::Contains(c.detail_part));
    if (c.status == 401) CHECK(result->get_header_value("WWW-Authenticate") == "Bearer");
    // No credential is ever echoed back.
    CHECK_THAT(result->body, !Catch::Contains(admin.substr(7)));
    CHECK_THAT(result->body, !Catch::Contains("wrong-credential"));
  }
  // The server is still fine afterwards.
  REQUIRE(client->Get("/healthz"));
  CHECK(client->Get("/healthz")->status == 200);
}
