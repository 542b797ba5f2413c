// The log collecting cosignatures (keyservice/cosign/): a real keyserviced HTTP surface with a
// 2-of-3 witness policy, three real keywitness servers on 127.0.0.1 (their keys in the test's
// SoftHSM token, their state in SQLite files, real HTTPS), and what a client requiring the quorum
// (audit/witness_quorum.h, as keyclient and keyaudit use it) sees when witnesses go away.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "audit/bundle_response.h"
#include "audit/bundle_verify.h"
#include "audit/checkpoint.h"
#include "audit/error.h"
#include "audit/witness_quorum.h"
#include "tests/api/server_fixture.h"
#include "tests/witness/witness_fixture.h"

using namespace escrowless;
using namespace escrowless::testing;
using nlohmann::json;
using Options = keyservice::CosignatureCollector::Options;

namespace {

std::uint64_t unix_now() { return static_cast<std::uint64_t>(std::time(nullptr)); }

// Three witnesses of one log and the policy naming them: any two make the quorum.
class Witnesses {
 public:
  void start(const keyservice::TransparencyLog& log) {
    const std::string log_line = log.origin() + " " + log.verifier().to_string();
    const std::string key_file = (dir_.path() / "key.pem").string();
    keyservice::write_localhost_certificate(ca_file(), key_file);
    std::string policy;
    for (int i = 1; i <= 3; ++i) {
      const std::string name = "w" + std::to_string(i);
      auto& witness = fixtures_.emplace_back(std::make_unique<WitnessFixture>(WitnessOptions{
          {log_line}, std::nullopt, {}, "witness.escrowless.test/" + name, true, std::pair(ca_file(), key_file)}));
      policy += "witness " + name + " " + witness->cosigner().to_string() + " https://127.0.0.1:" +
                std::to_string(witness->port()) + "\n";
    }
    policy += "group two-of-three 2 w1 w2 w3\nquorum two-of-three\n";
    policy_ = audit::parse_witness_policy(policy);
  }

  ServerFixture::WitnessSetup setup(std::chrono::milliseconds heartbeat, std::chrono::milliseconds bundle_wait) {
    return [this, heartbeat, bundle_wait](keyservice::TransparencyLog& log) {
      start(log);
      return options(heartbeat, bundle_wait);
    };
  }
  Options options(std::chrono::milliseconds heartbeat, std::chrono::milliseconds bundle_wait) const {
    Options options;
    options.policy = policy_;
    options.heartbeat = heartbeat;
    options.timeout_seconds = 2;
    options.ca_file = ca_file();
    options.bundle_wait = bundle_wait;
    options.follower_poll = std::chrono::milliseconds(100);
    return options;
  }

  WitnessFixture& operator[](std::size_t i) { return *fixtures_.at(i); }
  const audit::WitnessPolicy& policy() const { return policy_; }

 private:
  std::string ca_file() const { return (dir_.path() / "cert.pem").string(); }  // the witnesses' one certificate

  TempDir dir_;
  std::vector<std::unique_ptr<WitnessFixture>> fixtures_;
  audit::WitnessPolicy policy_;
};

// Polls `condition` for up to `seconds`; true once it held.
template <typename Condition>
bool eventually(Condition condition, int seconds = 15) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

std::string get(httplib::SSLClient& client, const std::string& path) {
  const auto result = client.Get(path.c_str());
  REQUIRE(result);
  REQUIRE(result->status == 200);
  return result->body;
}

// The body of a 200 answer, or "" for any other (the checkpoint before the first quorum: 503).
std::string try_get(httplib::SSLClient& client, const std::string& path) {
  const auto result = client.Get(path.c_str());
  return result && result->status == 200 ? result->body : "";
}

uint64_t size_of(const keyservice::TransparencyLog& log, const std::string& note) {
  const audit::VerifierKey verifier = log.verifier();
  return audit::open_checkpoint(note, log.origin(), std::span(&verifier, 1)).size;
}

// Whether a client requiring the quorum with `max_age` accepts `note`; the reason when not.
std::string refusal(const audit::WitnessPolicy& policy, const std::string& note, uint64_t max_age) {
  try {
    audit::require_quorum(policy, note, unix_now(), max_age);
    return "";
  } catch (const audit::Error& e) {
    return e.what();
  }
}

json enroll(ServerFixture& server, httplib::SSLClient& client, const std::string& account) {
  return expect_json(client.Post(("/v1/accounts/" + account + "/devices").c_str(), server.admin_headers(), "",
                                 "application/json"),
                     201);
}

}  // namespace

TEST_CASE("collector: with a 2-of-3 policy writes are acknowledged at once and clients get a quorum", "[hsm][http]") {
  Witnesses witnesses;
  ServerFixture server(witnesses.setup(std::chrono::seconds(1), std::chrono::milliseconds(300)));
  keyservice::TransparencyLog& log = server.log();
  auto client = server.client();

  // The write is acknowledged with the log's own signature, before any witness answered.
  for (int i = 0; i < 5; ++i) {
    const keyservice::Receipt receipt = log.append("{\"n\":" + std::to_string(i) + "}").get();
    CHECK(audit::parse_note(receipt.checkpoint).signatures.size() == 1);
  }
  // Served: the newest checkpoint with at least two valid cosignatures.
  REQUIRE(eventually([&] {
    const std::string note = try_get(*client, "/v1/log/checkpoint");
    return !note.empty() && size_of(log, note) == 5;
  }));
  const std::string served = get(*client, "/v1/log/checkpoint");
  CHECK(refusal(witnesses.policy(), served, 60).empty());
  CHECK(audit::parse_note(served).signatures.size() >= 3);
  CHECK(refusal(witnesses.policy(), get(*client, "/tlog/checkpoint"), 60).empty());

  // A bundle names entries logged after the cosigned checkpoint: it waits for one that covers them.
  const json alice = enroll(server, *client, "alice");
  const json bundle = expect_json(
      client->Get(("/v1/accounts/alice/devices/" + alice.at("device_id").get<std::string>() + "/bundle").c_str(),
                  server.admin_headers()),
      200);
  const audit::VerifiedBundles verified = audit::verify_bundles(audit::parse_bundles_response(bundle), log.verifier(),
                                                                {"alice", alice.at("device_id").get<std::string>()});
  CHECK(verified.checkpoint.size >= 6);
  CHECK(refusal(witnesses.policy(), bundle.at("checkpoint"), 60).empty());

  const json ready = expect_json(client->Get("/readyz"), 200);
  CHECK(ready.at("status") == "ready");
  CHECK(ready.at("witnesses").size() == 3);
  const std::string metrics = get(*client, "/metrics");
  CHECK_THAT(metrics, Catch::Contains("escrowless_witness_up{witness=\"w1\"} 1"));
  CHECK_THAT(metrics, Catch::Contains("# TYPE escrowless_witness_cosigned_size gauge"));
  CHECK_THAT(metrics, Catch::Contains("escrowless_witness_quorum_fresh 1"));

  // One witness gone: nothing changes for clients.
  witnesses[2].stop();
  log.append("{\"n\":\"after w3 stopped\"}").get();
  const uint64_t grown = log.size();
  REQUIRE(eventually([&] { return size_of(log, get(*client, "/v1/log/checkpoint")) == grown; }));
  CHECK(refusal(witnesses.policy(), get(*client, "/v1/log/checkpoint"), 60).empty());
  CHECK(expect_json(client->Get("/readyz"), 200).at("status") == "ready");

  // Two gone: writes still acknowledged, the service stays up; new checkpoints get no quorum.
  witnesses[1].stop();
  const uint64_t cosigned = size_of(log, get(*client, "/v1/log/checkpoint"));
  const json bob = enroll(server, *client, "bob");  // acknowledged
  CHECK(log.size() > cosigned);
  // Bob's bundle can't wait for a quorum that never comes: it carries the signed checkpoint,
  // which a client requiring the quorum refuses, naming the missing witnesses.
  const json late = expect_json(
      client->Get(("/v1/accounts/bob/devices/" + bob.at("device_id").get<std::string>() + "/bundle").c_str(),
                  server.admin_headers()),
      200);
  CHECK_THAT(refusal(witnesses.policy(), late.at("checkpoint"), 60),
             Catch::Contains("no quorum") && Catch::Contains("w2 (no cosignature)") && Catch::Contains("w3"));
  CHECK(size_of(log, get(*client, "/v1/log/checkpoint")) == cosigned);
  // Once the cosignatures age past fresh_seconds (3 heartbeats + the timeout: 5 s here), the
  // service says it is degraded, and clients with a small maximum age refuse the checkpoint.
  REQUIRE(eventually([&] { return expect_json(client->Get("/readyz"), 200).at("status") == "degraded"; }, 20));
  const json degraded = expect_json(client->Get("/readyz"), 200);
  CHECK_THAT(degraded.at("problem").get<std::string>(), Catch::Contains("w2") && Catch::Contains("w3"));
  CHECK_THAT(degraded.at("witnesses")[2].at("last_error").get<std::string>(), Catch::Contains("cannot connect"));
  CHECK_THAT(refusal(witnesses.policy(), get(*client, "/v1/log/checkpoint"), 3),
             Catch::Contains("older than the maximum age of 3 s"));
  CHECK_THAT(get(*client, "/metrics"), Catch::Contains("escrowless_witness_quorum_fresh 0") &&
                                           Catch::Contains("escrowless_witness_up{witness=\"w3\"} 0"));

  // A witness back: the quorum is met again, for everything written meanwhile.
  witnesses[1].start();
  REQUIRE(eventually([&] { return size_of(log, get(*client, "/v1/log/checkpoint")) == log.size(); }, 20));
  CHECK(refusal(witnesses.policy(), get(*client, "/v1/log/checkpoint"), 60).empty());
  REQUIRE(eventually([&] { return expect_json(client->Get("/readyz"), 200).at("status") == "ready"; }));
}

TEST_CASE("collector: with no writes the heartbeat keeps cosignature timestamps fresh", "[hsm][http]") {
  Witnesses witnesses;
  ServerFixture server(witnesses.setup(std::chrono::seconds(1), std::chrono::milliseconds(300)));
  auto client = server.client();
  server.log().append("{\"n\":0}").get();
  REQUIRE(eventually([&] {
    const std::string note = try_get(*client, "/v1/log/checkpoint");
    return !note.empty() && refusal(witnesses.policy(), note, 60).empty();
  }));
  const auto timestamps = [&] {
    const audit::Note note = audit::parse_note(get(*client, "/v1/log/checkpoint"));
    std::vector<std::optional<uint64_t>> stamps;
    for (std::size_t i = 0; i < 3; ++i) stamps.push_back(audit::verify_cosignature(note, witnesses[i].cosigner()));
    return stamps;
  };
  const auto first = timestamps();
  // Every witness cosigns the same checkpoint again with a later timestamp.
  REQUIRE(eventually([&] {
    const auto now = timestamps();
    for (std::size_t i = 0; i < 3; ++i) {
      if (!first[i] || !now[i] || *now[i] <= *first[i]) return false;
    }
    return true;
  }));
  CHECK(size_of(server.log(), get(*client, "/v1/log/checkpoint")) == 1);
  // Long after the first cosignatures, a client with a 3 s maximum age still accepts.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  CHECK(refusal(witnesses.policy(), get(*client, "/v1/log/checkpoint"), 3).empty());
}

TEST_CASE("collector: a restart serves the stored cosigned checkpoint before any witness answers", "[hsm][stored]") {
  LogFixture fixture;
  Witnesses witnesses;
  std::string cosigned;
  {
    auto log = fixture.open();
    witnesses.start(*log);
    auto collector = keyservice::CosignatureCollector::start(*log, witnesses.options(std::chrono::seconds(60), {}));
    for (int i = 0; i < 3; ++i) log->append("{\"n\":" + std::to_string(i) + "}").get();
    REQUIRE(eventually([&] { return log->served_head() && log->served_head()->size == 3; }));
    collector.reset();  // nothing is published after this: what is served now is what is stored
    cosigned = log->served_head()->note;
    log->stop();
  }
  for (std::size_t i = 0; i < 3; ++i) witnesses[i].stop();
  auto log = fixture.open();
  CHECK(log->checkpoint() != cosigned);  // no policy: the log's own signed checkpoint
  auto collector = keyservice::CosignatureCollector::start(*log, witnesses.options(std::chrono::seconds(60), {}));
  CHECK(log->checkpoint() == cosigned);
  CHECK(refusal(witnesses.policy(), log->checkpoint(), 600).empty());
  // Writes go on; what is served stays the cosigned checkpoint until witnesses cosign a newer one.
  log->append("{\"n\":3}").get();
  CHECK(log->checkpoint() == cosigned);
  CHECK(log->head_covering(4)->size == 4);  // the signed one, after the (zero) bundle wait
  collector.reset();
  log->stop();
}

TEST_CASE("collector: a policy that does not fit the log is refused at start", "[hsm]") {
  LogFixture fixture;
  auto log = fixture.open();
  Options options;
  CHECK_THROWS_WITH(keyservice::CosignatureCollector::start(*log, options), Catch::Contains("names no witness"));
  const SoftwareKey other;
  const audit::VerifierKey stranger = audit::VerifierKey::create(log->origin(), audit::SignatureType::ed25519,
                                                                 other.public_key());
  const audit::CosignerKey witness = audit::CosignerKey::create("w.example/1", SoftwareKey().public_key());
  options.policy = audit::parse_witness_policy("log " + stranger.to_string() + "\nwitness w1 " + witness.to_string() +
                                               " https://127.0.0.1:1\nquorum w1\n");
  CHECK_THROWS_WITH(keyservice::CosignatureCollector::start(*log, options), Catch::Contains("do not name this log's key"));
  options.policy = audit::parse_witness_policy("witness w1 " + witness.to_string() + "\nquorum w1\n");
  CHECK_THROWS_WITH(keyservice::CosignatureCollector::start(*log, options), Catch::Contains("has no URL"));
  CHECK_FALSE(log->requires_cosignatures());
  log->stop();
}
