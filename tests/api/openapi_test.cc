#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <string>

#include "tests/api/server_fixture.h"

using escrowless::testing::ServerFixture;

namespace {

// (METHOD, path) pairs of docs/openapi.yaml, read line by line: a path is a two-space-indented
// key starting with '/', an operation a four-space-indented HTTP method under it.
std::set<std::pair<std::string, std::string>> documented_operations() {
  std::ifstream file(ESCROWLESS_OPENAPI_YAML);
  REQUIRE(file);
  std::set<std::pair<std::string, std::string>> operations;
  bool in_paths = false;
  std::string path, line;
  while (std::getline(file, line)) {
    if (line == "paths:") {
      in_paths = true;
    } else if (!line.empty() && line[0] != ' ') {
      in_paths = false;
    } else if (in_paths && line.starts_with("  /") && line.ends_with(":")) {
      path = line.substr(2, line.size() - 3);
    } else if (in_paths && line.size() > 4 && line.starts_with("    ") && line[4] != ' ') {
      const std::string key = line.substr(4, line.find(':') - 4);
      if (key == "get" || key == "post" || key == "put" || key == "delete") {
        std::string method = key;
        std::transform(method.begin(), method.end(), method.begin(), ::toupper);
        operations.insert({method, path});
      }
    }
  }
  return operations;
}

}  // namespace

TEST_CASE("api: every served route is documented in docs/openapi.yaml and vice versa", "[http][hsm]") {
  ServerFixture server;
  const auto documented = documented_operations();
  REQUIRE(documented.size() >= 10);
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& route : server.routes()) served.insert({route.method, route.path});
  for (const auto& [method, path] : served) {
    INFO("served but not in docs/openapi.yaml: " << method << " " << path);
    CHECK(documented.count({method, path}) == 1);
  }
  for (const auto& [method, path] : documented) {
    INFO("documented but not served: " << method << " " << path);
    CHECK(served.count({method, path}) == 1);
  }
}
