#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "audit/checkpoint.h"
#include "audit/encoding.h"
#include "audit/log_entry.h"
#include "audit/proof_verify.h"
#include "tests/api/server_fixture.h"

using namespace escrowless;
using escrowless::testing::ServerFixture;
using escrowless::testing::expect_json;
using nlohmann::json;

namespace {


// The log entry a receipt points at, checked against the receipt's checkpoint and proof.
audit::LogEntry logged_entry(ServerFixture& server, httplib::SSLClient& client, const json& log) {
  const std::uint64_t index = log.at("index"), size = log.at("tree_size");
  const audit::VerifierKey& verifier = server.log().verifier();
  const audit::Checkpoint checkpoint =
      audit::open_checkpoint(log.at("checkpoint").get<std::string>(), verifier.name(), std::span(&verifier, 1));
  const json entries = expect_json(client.Get(("/v1/log/entries?start=" + std::to_string(index) + "&count=1").c_str()), 200);
  const auto data = audit::base64_decode(entries.at("entries")[0].at("data").get<std::string>());
  std::vector<audit::Hash> proof;
  for (const auto& h : log.at("inclusion_proof")) proof.push_back(audit::hash_from_base64(h.get<std::string>()));
  CHECK_NOTHROW(audit::verify_inclusion(index, size, audit::leaf_hash(data), proof, checkpoint.root));
  return audit::parse_entry(data);
}

}  // namespace

TEST_CASE("device api: enroll, list and revoke with the log proving each step", "[http][hsm][concurrency]") {
  ServerFixture server;
  auto client = server.client();

  const json enrolled = expect_json(client->Post("/v1/accounts/alice/devices", server.admin_headers(), "", "application/json"), 201);
  const std::string device = enrolled.at("device_id");
  const std::string credential = enrolled.at("credential");
  CHECK(credential.size() == 43);
  const audit::LogEntry entry = logged_entry(server, *client, enrolled.at("log"));
  REQUIRE(entry.type() == audit::EntryType::device_enrolled);
  const auto& body = std::get<audit::DeviceEnrolled>(entry.body);
  CHECK(body.account == "alice");
  CHECK(body.device == device);
  CHECK(body.enrolled_by.is_admin());
  CHECK(audit::base64_encode(body.identity_key.public_key) == enrolled.at("identity_key").at("public_key"));
  // The key's attributes as the token reported them: sign-only, never extractable.
  const audit::Attributes& flags = body.identity_key.attributes.private_key;
  CHECK(flags.at("sensitive"));
  CHECK(flags.at("never_extractable"));
  CHECK_FALSE(flags.at("extractable"));
  CHECK_FALSE(flags.at("decrypt"));
  CHECK_FALSE(flags.at("unwrap"));

  // The device enrolls a second device of its own account.
  const json second = expect_json(client->Post("/v1/accounts/alice/devices", ServerFixture::bearer(credential), "{}", "application/json"), 201);
  const audit::LogEntry second_entry = logged_entry(server, *client, second.at("log"));
  CHECK(std::get<audit::DeviceEnrolled>(second_entry.body).enrolled_by.to_string() == "device:" + device);

  const json listed = expect_json(client->Get("/v1/accounts/alice/devices", ServerFixture::bearer(credential)), 200);
  REQUIRE(listed.at("devices").size() == 2);
  CHECK(listed.at("devices")[0].at("device_id") == device);
  CHECK(listed.at("devices")[0].at("revoked") == false);

  // The second device revokes the first; its credential stops working at once.
  const json revoked = expect_json(client->Delete(("/v1/accounts/alice/devices/" + device).c_str(),
                                             ServerFixture::bearer(second.at("credential"))),
                              200);
  const audit::LogEntry revoked_entry = logged_entry(server, *client, revoked.at("log"));
  REQUIRE(revoked_entry.type() == audit::EntryType::device_revoked);
  CHECK(std::get<audit::DeviceRevoked>(revoked_entry.body).identity_key_sha256 == body.identity_key.public_key_sha256());
  expect_json(client->Get("/v1/accounts/alice/devices", ServerFixture::bearer(credential)), 401);
  const json after = expect_json(client->Get("/v1/accounts/alice/devices", server.admin_headers()), 200);
  CHECK(after.at("devices")[0].at("revoked") == true);
  CHECK(after.at("devices")[0].at("revoked_index") == revoked.at("log").at("index"));
  expect_json(client->Delete(("/v1/accounts/alice/devices/" + device).c_str(), server.admin_headers()), 409);
}

TEST_CASE("device api: who may do what", "[http][hsm]") {
  ServerFixture server;
  auto client = server.client();
  const json alice = expect_json(client->Post("/v1/accounts/alice/devices", server.admin_headers(), "", "application/json"), 201);
  const json bob = expect_json(client->Post("/v1/accounts/bob/devices", server.admin_headers(), "", "application/json"), 201);
  const auto alice_auth = ServerFixture::bearer(alice.at("credential"));
  const std::string bob_device = "/v1/accounts/bob/devices/" + bob.at("device_id").get<std::string>();

  // A device acts only for its own account: 403 with a valid credential, 401 without or wrong.
  expect_json(client->Post("/v1/accounts/bob/devices", alice_auth, "", "application/json"), 403);
  expect_json(client->Delete(bob_device.c_str(), alice_auth), 403);
  expect_json(client->Get("/v1/admin/token", alice_auth), 403);
  expect_json(client->Post("/v1/admin/inventory", alice_auth, "", "text/plain"), 403);
  for (const char* path : {"/v1/accounts/alice/devices"}) {
    expect_json(client->Post(path, httplib::Headers{}, "", "application/json"), 401);
    expect_json(client->Get(path), 401);
    expect_json(client->Post(path, ServerFixture::bearer("not-a-credential"), "", "application/json"), 401);
  }
  expect_json(client->Delete(bob_device.c_str()), 401);
  // Reading devices needs any credential; alice's device may list bob's devices.
  expect_json(client->Get("/v1/accounts/bob/devices", alice_auth), 200);
  // With anonymous fetches switched on, reading needs none.
  server.config().anonymous_fetch = true;
  expect_json(client->Get("/v1/accounts/bob/devices"), 200);
  expect_json(client->Post("/v1/accounts/bob/devices", httplib::Headers{}, "", "application/json"), 401);
}

TEST_CASE("device api: malformed requests", "[http][hsm]") {
  ServerFixture server;
  auto client = server.client();
  const auto admin = server.admin_headers();
  struct Case {
    std::string method, path, body, content_type;
    int status;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"POST", "/v1/accounts/al%20ice/devices", "", "application/json", 400, "account id must be"},
      {"POST", "/v1/accounts/" + std::string(65, 'a') + "/devices", "", "application/json", 400, "account id"},
      {"POST", "/v1/accounts/alice/devices", "{\"name\":\"x\"}", "application/json", 400, "unknown field 'name'"},
      {"POST", "/v1/accounts/alice/devices", "[]", "application/json", 400, "must be a JSON object"},
      {"POST", "/v1/accounts/alice/devices", "{", "application/json", 400, "not valid JSON"},
      // Found by tests/fuzz/request_body: the parser throws out_of_range, not parse_error, here.
      {"POST", "/v1/accounts/alice/devices", "1e309", "application/json", 400, "number is out of range"},
      {"POST", "/v1/accounts/alice/devices", "{}", "text/plain", 415, "application/json"},
      {"POST", "/v1/accounts/alice/devices?x=1", "", "application/json", 400, "unknown query parameter"},
      {"DELETE", "/v1/accounts/alice/devices/nope", "", "", 404, "no device"},
      {"DELETE", "/v1/accounts/alice/devices/bad!id", "", "", 400, "device id must be"},
      {"DELETE", "/v1/accounts/alice/devices/bad%2Fid", "", "", 404, "no such route"},  // decoded to two segments
      {"GET", "/v1/accounts/alice!/devices", "", "", 400, "account id"},
  };
  for (const Case& c : cases) {
    INFO(c.method << " " << c.path << " " << c.body);
    const httplib::Result result = c.method == "POST" ? client->Post(c.path.c_str(), admin, c.body, c.content_type.c_str())
                                   : c.method == "GET" ? client->Get(c.path.c_str(), admin)
                                                       : client->Delete(c.path.c_str(), admin);
    const json problem = expect_json(result, c.status);
    CHECK(result->get_header_value("Content-Type") == "application/problem+json");
    CHECK_THAT(problem.at("detail").get<std::string>(), Catch::Contains(c.detail));
  }
}
