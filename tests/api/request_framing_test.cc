// The two log-API conventions a standard client relies on (issue 16): paging past the tree's end
// answers the entries that exist (RFC 6962 / RFC 9162 4.6), and a request without Content-Length
// or Transfer-Encoding has an empty body (RFC 9112 6.3), on every route that takes a body.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <future>
#include <string>
#include <vector>

#include "tests/api/raw_https.h"
#include "tests/api/server_fixture.h"

using escrowless::testing::ServerFixture;
using escrowless::testing::expect_json;
using escrowless::testing::RawHttpsConnection;
using escrowless::testing::RawResponse;
using nlohmann::json;

namespace {

std::vector<std::uint64_t> indices_of(const json& page) {
  std::vector<std::uint64_t> indices;
  for (const json& entry : page.at("entries")) indices.push_back(entry.at("index"));
  return indices;
}

std::vector<std::uint64_t> iota(std::uint64_t begin, std::uint64_t end) {
  std::vector<std::uint64_t> values;
  for (std::uint64_t i = begin; i < end; ++i) values.push_back(i);
  return values;
}

}  // namespace

TEST_CASE("log api: a range past the tree's end answers the entries that exist", "[http][hsm]") {
  ServerFixture server;
  for (int i = 0; i < 5; ++i) server.log().append("{\"n\":" + std::to_string(i) + "}").get();
  auto client = server.client();

  CHECK(indices_of(expect_json(client->Get("/v1/log/entries?start=0&count=1000"), 200)) == iota(0, 5));
  CHECK(indices_of(expect_json(client->Get("/v1/log/entries?start=3&count=1000"), 200)) == iota(3, 5));
  CHECK(indices_of(expect_json(client->Get("/v1/log/entries?start=4&count=18446744073709551615"), 200)) ==
        iota(4, 5));
  // `start` itself must be inside the signed tree (RFC 9162 4.6: an error otherwise).
  const json beyond = expect_json(client->Get("/v1/log/entries?start=5&count=1000"), 400);
  CHECK_THAT(beyond.at("detail").get<std::string>(), Catch::Contains("beyond the newest checkpoint (tree size 5)"));

  // No answer holds more than 1,000 entries, however many are asked for and exist.
  std::vector<std::future<escrowless::keyservice::Receipt>> pending;
  for (int i = 5; i < 1200; ++i) pending.push_back(server.log().append("{\"n\":" + std::to_string(i) + "}"));
  for (auto& receipt : pending) receipt.get();
  CHECK(indices_of(expect_json(client->Get("/v1/log/entries?start=0&count=5000"), 200)) == iota(0, 1000));
  CHECK(indices_of(expect_json(client->Get("/v1/log/entries?start=1000&count=1000"), 200)) == iota(1000, 1200));
}

TEST_CASE("api: a request without Content-Length has an empty body, and the connection goes on", "[http][hsm]") {
  ServerFixture server;
  const std::string admin = server.admin_headers().begin()->second;
  // One keep-alive connection: had the server read the enrollment's body until the connection
  // closed, it would never have answered (httplib 0.11 answered 400 once its read timed out).
  RawHttpsConnection connection(server.port(), server.cert());
  connection.send("POST /v1/accounts/alice/devices HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + admin + "\r\n\r\n");
  const RawResponse enrolled = connection.read_response();
  INFO(enrolled.body);
  REQUIRE(enrolled.status == 201);
  const std::string device = json::parse(enrolled.body).at("device_id");

  connection.send("POST /v1/admin/inventory HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + admin + "\r\n\r\n");
  const RawResponse inventory = connection.read_response();
  INFO(inventory.body);
  CHECK(inventory.status == 201);

  // DELETE is framed the same way.
  connection.send("DELETE /v1/accounts/alice/devices/" + device + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " +
                  admin + "\r\n\r\n");
  const RawResponse revoked = connection.read_response();
  INFO(revoked.body);
  CHECK(revoked.status == 200);

  // A body announced by chunked framing is still read (and this route refuses one).
  connection.send("POST /v1/admin/inventory HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + admin +
                  "\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  const RawResponse chunked = connection.read_response();
  CHECK(chunked.status == 400);
  CHECK_THAT(chunked.body, Catch::Contains("takes no body"));

  // The connection still serves requests after all of them.
  connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  CHECK(connection.read_response().status == 200);
}
