// keywitness's state: committed before it answers, kept across restarts, advanced by one of two
// racing submitters only; and its cosignatures byte for byte against the known answers of
// tests/data/cosignature (the spec's signed message, and a line made by Go's crypto/ed25519).
#include <catch2/catch.hpp>

#include <barrier>

#include "tests/audit/test_support.h"
#include "tests/support/openssl_verify.h"
#include "tests/witness/witness_fixture.h"

using namespace escrowless;
using namespace escrowless::testing;
using nlohmann::json;

namespace {

constexpr const char* kOrigin = "log.escrowless.test/a";

const json& answers() {
  static const json loaded = audit::test::load_json("cosignature/known_answers.json");
  return loaded;
}

}  // namespace

TEST_CASE("keywitness: its state survives a restart", "[hsm][http]") {
  TestLog log(kOrigin);
  WitnessFixture fixture({{log.config_line()}});
  const std::string at4 = log.checkpoint(4);
  const auto first = fixture.post(add_checkpoint_body(0, {}, at4));
  REQUIRE(first);
  REQUIRE(first->status == 200);
  const auto before = fixture.client()->Get("/" + origin_hash(kOrigin) + "/checkpoint");
  REQUIRE(before);

  fixture.stop();
  fixture.start();

  // A client that forgot the witness's size learns it again, and the old root still binds.
  const std::string at9 = log.checkpoint(9);
  const auto learned = fixture.post(add_checkpoint_body(0, {}, at9));
  REQUIRE(learned);
  CHECK(learned->status == 409);
  CHECK(learned->body == "4\n");
  const auto after = fixture.client()->Get("/" + origin_hash(kOrigin) + "/checkpoint");
  REQUIRE(after);
  CHECK(after->body == before->body);
  CHECK(fixture.post(add_checkpoint_body(4, {}, log.checkpoint(4, audit::leaf_hash("ghost"))))->status == 422);
  CHECK(fixture.post(add_checkpoint_body(4, log.consistency_proof(4, 9), at9))->status == 200);
  CHECK(fixture.state().get(kOrigin)->size == 9);
}

TEST_CASE("keywitness: of two racing submitters from one state, exactly one advances it", "[hsm][http][concurrency]") {
  TestLog log(kOrigin);
  WitnessFixture fixture({{log.config_line()}});
  uint64_t size = 2;
  REQUIRE(fixture.post(add_checkpoint_body(0, {}, log.checkpoint(size)))->status == 200);
  for (int round = 0; round < 8; ++round) {
    // Both start from `size` and ask for different new sizes: B's tree extends A's, so either
    // order is consistent, and only the atomic check-and-update stops the second one.
    const uint64_t a = size + 1, b = size + 3;
    const std::string body_a = add_checkpoint_body(size, log.consistency_proof(size, a), log.checkpoint(a));
    const std::string body_b = add_checkpoint_body(size, log.consistency_proof(size, b), log.checkpoint(b));
    auto client_a = fixture.client();
    auto client_b = fixture.client();
    client_a->set_keep_alive(true);
    client_b->set_keep_alive(true);
    REQUIRE(client_a->Get("/healthz")->status == 200);  // connected before the start line
    REQUIRE(client_b->Get("/healthz")->status == 200);
    std::barrier start(2);
    std::optional<httplib::Result> result_a, result_b;
    std::thread thread_a([&] {
      start.arrive_and_wait();
      result_a.emplace(client_a->Post("/add-checkpoint", body_a, "text/plain"));
    });
    std::thread thread_b([&] {
      start.arrive_and_wait();
      result_b.emplace(client_b->Post("/add-checkpoint", body_b, "text/plain"));
    });
    thread_a.join();
    thread_b.join();
    REQUIRE((result_a && *result_a));
    REQUIRE((result_b && *result_b));
    const int status_a = (*result_a)->status, status_b = (*result_b)->status;
    INFO("round " << round << ": " << status_a << " " << status_b);
    REQUIRE(((status_a == 200) != (status_b == 200)));
    const bool a_won = status_a == 200;
    const httplib::Result& loser = a_won ? *result_b : *result_a;
    CHECK(loser->status == 409);
    size = a_won ? a : b;
    CHECK(loser->body == std::to_string(size) + "\n");
    CHECK(fixture.state().get(kOrigin)->size == size);
  }
}

TEST_CASE("keywitness: the token signs exactly the spec's cosigned message", "[hsm][http][vectors]") {
  // C2SP tlog-cosignature's example: its checkpoint and timestamp, and the message it says a
  // witness signs for them. Our log signs that checkpoint text under the spec's origin.
  const json& example = answers().at("spec_example");
  const std::string text = example.at("checkpoint_text").get<std::string>();
  TestLog log("example.com/behind-the-sofa");
  WitnessFixture fixture({{log.config_line()}});
  fixture.now = example.at("timestamp").get<uint64_t>();
  const auto reply = fixture.post(add_checkpoint_body(0, {}, log.sign_text(text)));
  REQUIRE(reply);
  REQUIRE(reply->status == 200);
  const std::string prefix = "\xE2\x80\x94 " + std::string(WitnessFixture::kName) + " ";
  const std::vector<uint8_t> payload =
      audit::base64_decode(reply->body.substr(prefix.size(), reply->body.size() - prefix.size() - 1));
  REQUIRE(payload.size() == 76);
  const std::string message = example.at("signed_message").get<std::string>();
  CHECK(openssl_verify(fixture.token_key()->public_key.spki_der(),
                       std::span(reinterpret_cast<const uint8_t*>(message.data()), message.size()),
                       std::span(payload).subspan(12)));
  // The timestamp bytes are the spec's example's (bytes 4..11 of its witness signature).
  const audit::Note spec = audit::parse_note(example.at("cosigned_note").get<std::string>());
  CHECK(std::vector<uint8_t>(payload.begin() + 4, payload.begin() + 12) ==
        std::vector<uint8_t>(spec.signatures[1].signature.begin(), spec.signatures[1].signature.begin() + 8));
}

TEST_CASE("keywitness: its reply line is byte for byte the one Go's crypto/ed25519 made", "[http][vectors]") {
  // The known-answer key is RFC 8032's test key, held in memory: tokens must not import
  // private keys, so this case signs in software; the cases above sign in the token.
  const json& known = answers().at("rfc8032_cosignature");
  TestLog log("example.com/behind-the-sofa");
  WitnessFixture fixture({{log.config_line()}, audit::hex_decode(known.at("secret").get<std::string>())});
  CHECK(fixture.cosigner().to_string() == known.at("vkey").get<std::string>());
  fixture.now = known.at("timestamp").get<uint64_t>();
  const std::string checkpoint = log.sign_text(known.at("checkpoint_text").get<std::string>());
  const auto reply = fixture.post(add_checkpoint_body(0, {}, checkpoint));
  REQUIRE(reply);
  CHECK(reply->status == 200);
  CHECK(reply->body == known.at("line").get<std::string>());
}
