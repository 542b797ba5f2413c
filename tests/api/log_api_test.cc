#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "audit/checkpoint.h"
#include "audit/encoding.h"
#include "audit/log_entry.h"
#include "audit/proof_verify.h"
#include "audit/verifier_key.h"
#include "tests/api/server_fixture.h"

using namespace escrowless;
using escrowless::testing::ServerFixture;
using escrowless::testing::expect_json;
using nlohmann::json;

namespace {


std::vector<audit::Hash> proof_of(const json& body) {
  std::vector<audit::Hash> proof;
  for (const auto& hash : body.at("proof")) proof.push_back(audit::hash_from_base64(hash.get<std::string>()));
  return proof;
}

}  // namespace

TEST_CASE("log api: checkpoint, verifier key, entries and proofs verify end to end", "[http][hsm]") {
  ServerFixture server;
  for (int i = 0; i < 9; ++i) server.log().append("{\"n\":" + std::to_string(i) + "}").get();
  auto client = server.client();

  const auto key_response = client->Get("/v1/log/verifier-key");
  REQUIRE(key_response);
  CHECK(key_response->status == 200);
  std::string key_text = key_response->body;
  REQUIRE(key_text.ends_with("\n"));
  key_text.pop_back();
  const audit::VerifierKey verifier = audit::parse_verifier_key(key_text);

  const auto checkpoint_response = client->Get("/v1/log/checkpoint");
  REQUIRE(checkpoint_response);
  CHECK(checkpoint_response->get_header_value("Content-Type").starts_with("text/plain"));
  const audit::Checkpoint checkpoint =
      audit::open_checkpoint(checkpoint_response->body, verifier.name(), std::span(&verifier, 1));
  CHECK(checkpoint.size == 9);

  const json entries = expect_json(client->Get("/v1/log/entries?start=0&count=9"), 200);
  REQUIRE(entries.at("entries").size() == 9);
  for (const json& entry : entries.at("entries")) {
    const std::uint64_t index = entry.at("index");
    const auto data = audit::base64_decode(entry.at("data").get<std::string>());
    CHECK(std::string(data.begin(), data.end()) == "{\"n\":" + std::to_string(index) + "}");
    const json proof = expect_json(client->Get(("/v1/log/proof/inclusion?index=" + std::to_string(index) +
                                            "&size=9").c_str()),
                               200);
    CHECK(proof.at("index") == index);
    CHECK_NOTHROW(audit::verify_inclusion(index, 9, audit::leaf_hash(data), proof_of(proof), checkpoint.root));
  }

  server.log().append("{\"n\":9}").get();
  const audit::Checkpoint later = audit::open_checkpoint(client->Get("/v1/log/checkpoint")->body,
                                                         verifier.name(), std::span(&verifier, 1));
  const json consistency = expect_json(client->Get("/v1/log/proof/consistency?from=9&to=10"), 200);
  CHECK_NOTHROW(audit::verify_consistency(9, 10, checkpoint.root, later.root, proof_of(consistency)));
}

TEST_CASE("log api: ops routes answer", "[http][hsm]") {
  ServerFixture server;
  auto client = server.client();
  CHECK(expect_json(client->Get("/healthz"), 200).at("status") == "ok");
  CHECK(expect_json(client->Get("/readyz"), 200).at("status") == "ready");
  const auto metrics = client->Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK_THAT(metrics->body, Catch::Contains("escrowless_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"} 1"));
  CHECK_THAT(metrics->body, Catch::Contains("escrowless_log_size 0"));
  CHECK_THAT(metrics->body, Catch::Contains("escrowless_hsm_sessions_open"));
  CHECK_THAT(metrics->body, Catch::Contains("escrowless_hsm_operations_total"));
  CHECK_THAT(metrics->body, Catch::Contains("escrowless_hsm_errors_total 0"));
}

TEST_CASE("admin api: inventory is logged with a proof, token info is served", "[http][hsm]") {
  ServerFixture server;
  auto client = server.client();
  const json created = expect_json(client->Post("/v1/admin/inventory", server.admin_headers(), "", "text/plain"), 201);
  const json& log = created.at("log");
  const std::uint64_t index = log.at("index"), size = log.at("tree_size");
  const json entry = expect_json(client->Get(("/v1/log/entries?start=" + std::to_string(index) + "&count=1").c_str()), 200);
  const auto data = audit::base64_decode(entry.at("entries")[0].at("data").get<std::string>());
  const audit::LogEntry parsed = audit::parse_entry(data);
  REQUIRE(parsed.type() == audit::EntryType::hsm_inventory);
  // The inventory lists the log key pair (the only objects on a fresh token besides other tests').
  CHECK(std::get<audit::HsmInventory>(parsed.body).objects.size() >= 2);

  const audit::VerifierKey& verifier = server.log().verifier();
  const audit::Checkpoint checkpoint =
      audit::open_checkpoint(log.at("checkpoint").get<std::string>(), verifier.name(), std::span(&verifier, 1));
  CHECK(checkpoint.size == size);
  std::vector<audit::Hash> proof;
  for (const auto& h : log.at("inclusion_proof")) proof.push_back(audit::hash_from_base64(h.get<std::string>()));
  CHECK_NOTHROW(audit::verify_inclusion(index, size, audit::leaf_hash(data), proof, checkpoint.root));

  const json token = expect_json(client->Get("/v1/admin/token", server.admin_headers()), 200);
  CHECK(token.at("token").at("label") == "escrowless-test");
  CHECK(token.at("preferred_algorithm") == "ed25519");
}
