#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "audit/bundle_verify.h"
#include "audit/encoding.h"
#include "audit/prekey.h"
#include "tests/api/server_fixture.h"

using namespace escrowless;
using escrowless::testing::ServerFixture;
using escrowless::testing::expect_json;
using nlohmann::json;

namespace {


// Called from the concurrency tests' threads too, where Catch's assertions must not run.
std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::vector<std::uint8_t> bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
  return bytes;
}

json prekey(std::uint32_t key_id, std::size_t size) {
  return {{"key_id", key_id}, {"public_key", audit::base64_encode(random_bytes(size))}};
}

struct Enrolled {
  std::string account, device, credential;
  httplib::Headers auth() const { return ServerFixture::bearer(credential); }
  std::string path(const std::string& rest) const { return "/v1/accounts/" + account + "/devices/" + device + rest; }
};

Enrolled enroll(ServerFixture& server, httplib::SSLClient& client, const std::string& account) {
  const json made = expect_json(client.Post(("/v1/accounts/" + account + "/devices").c_str(), server.admin_headers(), "", "application/json"), 201);
  return {account, made.at("device_id"), made.at("credential")};
}

json upload_body(int one_time, int pq_one_time) {
  json body = {{"signed_prekey", prekey(1, 32)}, {"pq_last_resort_prekey", prekey(2, 1184)}};
  for (int i = 0; i < one_time; ++i) body["one_time_prekeys"].push_back(prekey(static_cast<std::uint32_t>(100 + i), 32));
  for (int i = 0; i < pq_one_time; ++i) body["pq_one_time_prekeys"].push_back(prekey(static_cast<std::uint32_t>(500 + i), 1184));
  return body;
}

// What a client does with a bundle response (docs/protocol.md section 3): the audit core's
// verifier, the one keyclient and apps link, so the server is tested against it. Returns the
// one-time X25519 key id handed out, if any.
std::optional<std::uint32_t> verify_bundles(const json& response, const audit::VerifierKey& verifier,
                                            const audit::BundleRequest& request, std::size_t expected_bundles) {
  const audit::VerifiedBundles verified =
      audit::verify_bundles(audit::parse_bundles_response(response), verifier, request);
  CHECK(verified.checkpoint.size == response.at("tree_size"));
  REQUIRE(verified.bundles.size() == expected_bundles);
  std::optional<std::uint32_t> one_time_id;
  for (const audit::VerifiedBundle& bundle : verified.bundles) {
    if (bundle.one_time_prekey) one_time_id = bundle.one_time_prekey->key_id;
  }
  return one_time_id;
}

}  // namespace

TEST_CASE("prekey api: upload is signed in the token, logged, counted and served in verified bundles", "[http][hsm]") {
  ServerFixture server;
  auto client = server.client();
  const Enrolled alice = enroll(server, *client, "alice");
  const json body = upload_body(100, 3);
  const json uploaded = expect_json(client->Put(alice.path("/prekeys").c_str(), alice.auth(), body.dump(), "application/json"), 200);

  // Every returned signature verifies with OpenSSL under the identity key.
  const json devices = expect_json(client->Get("/v1/accounts/alice/devices", alice.auth()), 200);
  const auto identity = audit::base64_decode(devices.at("devices")[0].at("identity_key").at("public_key").get<std::string>());
  const auto check = [&](audit::PrekeyKind kind, const json& sent, const json& returned) {
    REQUIRE(sent.at("key_id") == returned.at("key_id"));
    CHECK(audit::verify_prekey_signature(
        audit::KeyAlgorithm::ed25519, identity,
        audit::prekey_signature_message(kind, "alice", alice.device, sent.at("key_id"),
                                        audit::base64_decode(sent.at("public_key").get<std::string>())),
        audit::base64_decode(returned.at("signature").get<std::string>())));
  };
  const json& signatures = uploaded.at("signatures");
  check(audit::PrekeyKind::signed_prekey, body.at("signed_prekey"), signatures.at("signed_prekey"));
  check(audit::PrekeyKind::pq_last_resort_prekey, body.at("pq_last_resort_prekey"), signatures.at("pq_last_resort_prekey"));
  REQUIRE(signatures.at("one_time_prekeys").size() == 100);
  for (std::size_t i = 0; i < 100; ++i) {
    check(audit::PrekeyKind::one_time_prekey, body.at("one_time_prekeys")[i], signatures.at("one_time_prekeys")[i]);
  }
  for (std::size_t i = 0; i < 3; ++i) {
    check(audit::PrekeyKind::pq_one_time_prekey, body.at("pq_one_time_prekeys")[i], signatures.at("pq_one_time_prekeys")[i]);
  }

  const json counts = expect_json(client->Get(alice.path("/prekeys/count").c_str(), alice.auth()), 200);
  CHECK(counts.at("one_time_prekeys") == 100);
  CHECK(counts.at("pq_one_time_prekeys") == 3);

  // Another account's device fetches alice's bundles: 3 use the one-time ML-KEM keys, then the
  // last-resort key is served.
  const Enrolled bob = enroll(server, *client, "bob");
  for (int i = 0; i < 4; ++i) {
    const json bundle = expect_json(client->Get(alice.path("/bundle").c_str(), bob.auth()), 200);
    CHECK(verify_bundles(bundle, server.log().verifier(), {"alice", alice.device}, 1));
    CHECK(bundle.at("bundles")[0].at("pq_prekey").at("kind") == (i < 3 ? "pq_one_time_prekey" : "pq_last_resort_prekey"));
  }
  const json all = expect_json(client->Get("/v1/accounts/alice/bundles", server.admin_headers()), 200);
  verify_bundles(all, server.log().verifier(), {"alice", {}}, 1);
  CHECK(expect_json(client->Get(alice.path("/prekeys/count").c_str(), server.admin_headers()), 200).at("one_time_prekeys") == 95);
}

TEST_CASE("prekey api: 8 concurrent fetchers drain 100 one-time prekeys, each handed out once", "[http][hsm][concurrency]") {
  ServerFixture server;
  auto client = server.client();
  const Enrolled alice = enroll(server, *client, "alice");
  expect_json(client->Put(alice.path("/prekeys").c_str(), alice.auth(), upload_body(100, 0).dump(), "application/json"), 200);
  const Enrolled reader = enroll(server, *client, "carol");

  std::mutex mutex;
  std::multiset<std::uint32_t> handed_out;
  int without_key = 0, failures = 0;
  std::vector<std::thread> fetchers;
  for (int t = 0; t < 8; ++t) {
    fetchers.emplace_back([&] {
      auto own = server.client();
      for (int i = 0; i < 16; ++i) {
        const auto result = own->Get(alice.path("/bundle").c_str(), reader.auth());
        std::lock_guard lock(mutex);
        if (!result || result->status != 200) {
          ++failures;
          continue;
        }
        const json bundle = json::parse(result->body);
        const json& b = bundle.at("bundles")[0];
        if (b.contains("one_time_prekey")) {
          handed_out.insert(b.at("one_time_prekey").at("key_id").get<std::uint32_t>());
        } else {
          ++without_key;
        }
      }
    });
  }
  for (auto& fetcher : fetchers) fetcher.join();
  CHECK(failures == 0);
  CHECK(handed_out.size() == 100);
  CHECK(std::set<std::uint32_t>(handed_out.begin(), handed_out.end()).size() == 100);  // no key twice
  CHECK(without_key == 8 * 16 - 100);
  CHECK(expect_json(client->Get(alice.path("/prekeys/count").c_str(), alice.auth()), 200).at("one_time_prekeys") == 0);
}

TEST_CASE("prekey api: who may upload, count and fetch", "[http][hsm]") {
  ServerFixture server;
  auto client = server.client();
  const Enrolled alice = enroll(server, *client, "alice");
  const json second = expect_json(client->Post("/v1/accounts/alice/devices", alice.auth(), "", "application/json"), 201);
  const Enrolled bob = enroll(server, *client, "bob");
  const std::string body = upload_body(1, 0).dump();
  expect_json(client->Put(alice.path("/prekeys").c_str(), server.admin_headers(), body, "application/json"), 403);
  expect_json(client->Put(alice.path("/prekeys").c_str(), ServerFixture::bearer(second.at("credential")), body, "application/json"), 403);
  expect_json(client->Put(alice.path("/prekeys").c_str(), bob.auth(), body, "application/json"), 403);
  expect_json(client->Put(alice.path("/prekeys").c_str(), httplib::Headers{}, body, "application/json"), 401);
  expect_json(client->Get(alice.path("/prekeys/count").c_str(), bob.auth()), 403);
  expect_json(client->Get(alice.path("/prekeys/count").c_str()), 401);
  expect_json(client->Get(alice.path("/bundle").c_str()), 401);
  expect_json(client->Get("/v1/accounts/alice/bundles"), 401);
  expect_json(client->Get("/v1/accounts/alice/bundles", ServerFixture::bearer("forged")), 401);
  // The device's bundle route checks a device credential in its store read: the same answers.
  expect_json(client->Get(alice.path("/bundle").c_str(), bob.auth()), 200);
  expect_json(client->Get(alice.path("/bundle").c_str(), server.admin_headers()), 200);
  const auto forged = client->Get(alice.path("/bundle").c_str(), ServerFixture::bearer("forged"));
  expect_json(forged, 401);
  CHECK(forged->get_header_value("WWW-Authenticate") == "Bearer");
  expect_json(client->Get("/v1/accounts/alice/devices/nobody/bundle", ServerFixture::bearer("forged")), 401);
  expect_json(client->Get("/v1/accounts/alice/devices/nobody/bundle", bob.auth()), 404);
  expect_json(client->Delete(("/v1/accounts/alice/devices/" + second.at("device_id").get<std::string>()).c_str(),
                             server.admin_headers()),
              200);
  expect_json(client->Get(alice.path("/bundle").c_str(), ServerFixture::bearer(second.at("credential"))), 401);
  server.config().anonymous_fetch = true;
  expect_json(client->Get(alice.path("/bundle").c_str()), 200);
  expect_json(client->Get(alice.path("/bundle").c_str(), ServerFixture::bearer("forged")), 401);
  expect_json(client->Get(("/v1/accounts/alice/devices/" + alice.device + "x/bundle").c_str()), 404);
}

TEST_CASE("prekey api: malformed uploads are refused naming the field", "[http][hsm]") {
  ServerFixture server;
  auto client = server.client();
  const Enrolled alice = enroll(server, *client, "alice");
  json too_many = json::array();
  for (int i = 0; i < 101; ++i) too_many.push_back(prekey(static_cast<std::uint32_t>(i), 32));
  const std::vector<std::pair<json, std::string>> cases = {
      {json::object(), "holds no prekey"},
      {{{"signed_prekey", prekey(1, 31)}}, "signed_prekey: key 1: public key must be 32 bytes, got 31"},
      {{{"signed_prekey", prekey(1, 33)}}, "must be 32 bytes, got 33"},
      {{{"pq_last_resort_prekey", prekey(1, 1183)}}, "must be 1184 bytes, got 1183"},
      {{{"signed_prekey", {{"key_id", 1}}}}, "signed_prekey.public_key: must be a base64 string"},
      {{{"signed_prekey", {{"key_id", -1}, {"public_key", "AAAA"}}}}, "signed_prekey.key_id"},
      {{{"signed_prekey", {{"key_id", 4294967296ULL}, {"public_key", "AAAA"}}}}, "signed_prekey.key_id"},
      {{{"signed_prekey", {{"key_id", 1.5}, {"public_key", "AAAA"}}}}, "signed_prekey.key_id"},
      {{{"signed_prekey", {{"key_id", 1}, {"public_key", "not base64!"}}}}, "not valid base64"},
      {{{"signed_prekey", {{"key_id", 1}, {"public_key", audit::base64_encode(random_bytes(32)) + " "}}}}, "not valid base64"},
      {{{"signed_prekey", {{"key_id", 1}, {"public_key", "AAAA"}, {"extra", 1}}}}, "unknown field 'extra'"},
      {{{"signed_prekey", "AAAA"}}, "must be an object"},
      {{{"one_time_prekeys", json::array()}}, "1 to 100 keys, got 0"},
      {{{"one_time_prekeys", too_many}}, "at most 100 keys"},
      {{{"one_time_prekeys", {prekey(7, 32), prekey(7, 32)}}}, "key id 7 appears twice"},
      {{{"one_time_prekeys", prekey(7, 32)}}, "must be an array"},
      {{{"pq_one_time_prekeys", {prekey(1, 32)}}}, "must be 1184 bytes"},
      {{{"one_time_prekey", {prekey(1, 32)}}}, "unknown field 'one_time_prekey'"},
  };
  for (const auto& [body, detail] : cases) {
    INFO(body.dump().substr(0, 200));
    const json problem = expect_json(client->Put(alice.path("/prekeys").c_str(), alice.auth(), body.dump(), "application/json"), 400);
    CHECK_THAT(problem.at("detail").get<std::string>(), Catch::Contains(detail));
  }
  // Nothing of the refused uploads was stored or logged as prekeys.
  CHECK(expect_json(client->Get(alice.path("/prekeys/count").c_str(), alice.auth()), 200).at("one_time_prekeys") == 0);
  expect_json(client->Put(alice.path("/prekeys").c_str(), alice.auth(), "{\"signed_prekey\":", "application/json"), 400);
  expect_json(client->Put(alice.path("/prekeys").c_str(), alice.auth(), "{}", "text/plain"), 415);
}

TEST_CASE("prekey api: concurrent uploads of one device all land and the newest logged one is stored", "[http][hsm][concurrency]") {
  ServerFixture server;
  auto client = server.client();
  const Enrolled alice = enroll(server, *client, "alice");
  const Enrolled reader = enroll(server, *client, "carol");

  // Each upload carries 5 one-time keys with ids naming it (thread * 100 + round * 10 + i).
  std::mutex mutex;
  std::map<std::uint64_t, std::set<std::uint32_t>> key_ids_by_log_index;
  std::vector<std::string> failures;
  std::vector<std::thread> uploaders;
  for (std::uint32_t t = 0; t < 6; ++t) {
    uploaders.emplace_back([&, t] {
      auto own = server.client();
      for (std::uint32_t round = 0; round < 4; ++round) {
        json body = {{"one_time_prekeys", json::array()}};
        std::set<std::uint32_t> ids;
        for (std::uint32_t i = 0; i < 5; ++i) {
          ids.insert(t * 100 + round * 10 + i);
          body["one_time_prekeys"].push_back(prekey(t * 100 + round * 10 + i, 32));
        }
        const auto result = own->Put(alice.path("/prekeys").c_str(), alice.auth(), body.dump(), "application/json");
        std::lock_guard lock(mutex);
        if (!result || result->status != 200) {
          failures.push_back(result ? std::to_string(result->status) + " " + result->body : "no response");
          continue;
        }
        key_ids_by_log_index[json::parse(result->body).at("log").at("index").get<std::uint64_t>()] = ids;
      }
    });
  }
  for (auto& uploader : uploaders) uploader.join();
  INFO((failures.empty() ? std::string() : failures.front()));
  CHECK(failures.empty());
  REQUIRE(key_ids_by_log_index.size() == 24);

  // The store holds exactly the keys of the upload logged last.
  std::set<std::uint32_t> served;
  for (int i = 0; i < 6; ++i) {
    const json bundle = expect_json(client->Get(alice.path("/bundle").c_str(), reader.auth()), 200);
    const json& b = bundle.at("bundles")[0];
    if (b.contains("one_time_prekey")) served.insert(b.at("one_time_prekey").at("key_id").get<std::uint32_t>());
  }
  CHECK(served == key_ids_by_log_index.rbegin()->second);
}

TEST_CASE("prekey api: a revocation during uploads follows every accepted upload in the log", "[http][hsm][concurrency]") {
  ServerFixture server;
  auto client = server.client();
  const Enrolled alice = enroll(server, *client, "alice");

  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<std::uint64_t> accepted;
  std::vector<std::string> unexpected;
  std::vector<std::thread> uploaders;
  for (int t = 0; t < 3; ++t) {
    uploaders.emplace_back([&] {
      auto own = server.client();
      while (!stop) {
        const auto result = own->Put(alice.path("/prekeys").c_str(), alice.auth(), upload_body(3, 0).dump(), "application/json");
        std::lock_guard lock(mutex);
        if (result && result->status == 200) {
          accepted.push_back(json::parse(result->body).at("log").at("index").get<std::uint64_t>());
        } else if (!result || (result->status != 401 && result->status != 409)) {
          // After the revocation: 401 (the credential is unknown), or 409 for an upload that was
          // authenticated before and waited for the revocation to finish.
          unexpected.push_back(result ? std::to_string(result->status) + " " + result->body : "no response");
        }
      }
    });
  }
  while (true) {
    std::lock_guard lock(mutex);
    if (accepted.size() >= 3) break;
  }
  const json revoked = expect_json(client->Delete(alice.path("").c_str(), server.admin_headers()), 200);
  stop = true;
  for (auto& uploader : uploaders) uploader.join();
  INFO((unexpected.empty() ? std::string() : unexpected.front()));
  CHECK(unexpected.empty());
  const std::uint64_t revoked_index = revoked.at("log").at("index");
  for (const std::uint64_t index : accepted) CHECK(index < revoked_index);
}
