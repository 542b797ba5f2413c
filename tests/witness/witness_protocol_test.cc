// keywitness speaks C2SP tlog-witness add-checkpoint (https://c2sp.org/tlog-witness, C2SP commit
// 95978ca): every status the spec prescribes, the exact bytes of its answers, and cosignatures
// from the token key that OpenSSL verifies. Real SoftHSM token, real HTTPS on 127.0.0.1.
#include <catch2/catch.hpp>

#include <algorithm>

#include "audit/proof_verify.h"
#include "tests/support/openssl_verify.h"
#include "tests/witness/witness_fixture.h"

using namespace escrowless;
using namespace escrowless::testing;

namespace {

constexpr const char* kOrigin = "log.escrowless.test/a";

// Requires a 200 whose body is exactly one cosignature line of `fixture`'s key over
// `checkpoint` at `timestamp`, and checks its signature with OpenSSL under the token's public
// key (nothing of the witness's own code judges it).
void require_cosigned(const WitnessFixture& fixture, const httplib::Result& result, const std::string& checkpoint,
                      uint64_t timestamp) {
  REQUIRE(result);
  INFO(result->body);
  REQUIRE(result->status == 200);
  CHECK(result->get_header_value("Content-Type") == "text/plain; charset=utf-8");
  const std::string& line = result->body;
  const std::string prefix = "\xE2\x80\x94 " + std::string(WitnessFixture::kName) + " ";
  REQUIRE(line.starts_with(prefix));
  REQUIRE(line.ends_with("\n"));
  REQUIRE(std::count(line.begin(), line.end(), '\n') == 1);
  const std::vector<uint8_t> payload = audit::base64_decode(line.substr(prefix.size(), line.size() - prefix.size() - 1));
  REQUIRE(payload.size() == 4 + 8 + 64);
  const uint32_t key_id = (uint32_t{payload[0]} << 24) | (uint32_t{payload[1]} << 16) | (uint32_t{payload[2]} << 8) | payload[3];
  CHECK(key_id == fixture.cosigner().key_id());
  uint64_t stamped = 0;
  for (std::size_t i = 4; i < 12; ++i) stamped = (stamped << 8) | payload[i];
  CHECK(stamped == timestamp);
  const audit::Note note = audit::parse_note(checkpoint);
  const std::string message = "cosignature/v1\ntime " + std::to_string(timestamp) + "\n" + note.text;
  REQUIRE(fixture.token_key());
  CHECK(openssl_verify(fixture.token_key()->public_key.spki_der(),
                       std::span(reinterpret_cast<const uint8_t*>(message.data()), message.size()),
                       std::span(payload).subspan(12)));
}

void require_text(const httplib::Result& result, int status, const std::string& contains) {
  REQUIRE(result);
  INFO(result->body);
  CHECK(result->status == status);
  CHECK(result->get_header_value("Content-Type") == "text/plain; charset=utf-8");
  CHECK(result->body.ends_with("\n"));
  CHECK_THAT(result->body, Catch::Contains(contains));
}

void require_size(const httplib::Result& result, uint64_t size) {
  REQUIRE(result);
  CHECK(result->status == 409);
  CHECK(result->get_header_value("Content-Type") == "text/x.tlog.size");
  CHECK(result->body == std::to_string(size) + "\n");
}

}  // namespace

TEST_CASE("keywitness: cosigns a log from nothing, then each growth, with the token key", "[hsm][http]") {
  TestLog log(kOrigin);
  WitnessFixture fixture({{log.config_line()}});

  const std::string first = log.checkpoint(3);
  require_cosigned(fixture, fixture.post(add_checkpoint_body(0, {}, first)), first, fixture.now);

  fixture.now += 10;
  const std::string second = log.checkpoint(10);
  const auto grown = fixture.post(add_checkpoint_body(3, log.consistency_proof(3, 10), second));
  require_cosigned(fixture, grown, second, fixture.now);

  // The same tree again is cosigned afresh (a heartbeat), with the new time.
  fixture.now += 60;
  const auto again = fixture.post(add_checkpoint_body(10, {}, second));
  require_cosigned(fixture, again, second, fixture.now);

  // The monitoring path serves it: the log's verified signature and the cosignature returned.
  const auto latest = fixture.client()->Get("/" + origin_hash(kOrigin) + "/checkpoint");
  REQUIRE(latest);
  CHECK(latest->status == 200);
  CHECK(latest->body == second + again->body);
  const audit::Note served = audit::parse_note(latest->body);
  CHECK(audit::verify_cosignature(served, fixture.cosigner()) == fixture.now.load());
  const std::vector<audit::VerifierKey> log_key{log.verifier()};
  CHECK(audit::verify_note(latest->body, log_key).verified.size() == 1);
  // Unknown logs and logs never cosigned: 404.
  CHECK(fixture.client()->Get("/" + origin_hash("other.example/log") + "/checkpoint")->status == 404);
}

TEST_CASE("keywitness: answers every refusal the spec names with its status", "[hsm][http]") {
  TestLog log(kOrigin);
  TestLog stranger("other.example/log");
  TestLog impostor(kOrigin);  // the right origin, another key
  WitnessFixture fixture({{log.config_line()}});
  const std::string at5 = log.checkpoint(5);
  require_cosigned(fixture, fixture.post(add_checkpoint_body(0, {}, at5)), at5, fixture.now);
  const std::string at8 = log.checkpoint(8);
  const std::vector<audit::Hash> proof = log.consistency_proof(5, 8);

  SECTION("404: an origin the witness does not know") {
    require_text(fixture.post(add_checkpoint_body(0, {}, stranger.checkpoint(2))), 404, "unknown log origin");
  }
  SECTION("403: no signature of the log's key, or a failing one from it") {
    require_text(fixture.post(add_checkpoint_body(5, proof, impostor.checkpoint(8))), 403, "no valid signature");
    // The right key name and id with a signature that does not verify: a flipped bit.
    std::string forged = at8;
    const std::size_t sig = forged.rfind(' ') + 10;
    forged[sig] = forged[sig] == 'A' ? 'B' : 'A';
    require_text(fixture.post(add_checkpoint_body(5, proof, forged)), 403, "no valid signature");
    // The impostor's signature beside the log's is ignored, as an unknown key's must be.
    const std::string both = at8 + impostor.checkpoint(8).substr(audit::parse_note(at8).text.size() + 1);
    require_cosigned(fixture, fixture.post(add_checkpoint_body(5, proof, both)), at8, fixture.now);
  }
  SECTION("400: old size beyond the checkpoint, and malformed bodies") {
    require_text(fixture.post(add_checkpoint_body(9, {}, at8)), 400, "larger than the checkpoint's size 8");
    const std::string tail = "\n" + at8;
    for (const std::string& body : std::vector<std::string>{std::string(""), "old 5" + tail, "Old 5\n" + tail, "old 05\n" + tail,
                                    "old -5\n" + tail, "old 5 \n" + tail, "old 18446744073709551616\n" + tail,
                                    "old 5\nnot base64!\n" + tail, "old 5\nAAAA\n" + tail, "old 5\n",
                                    "old 5\n" + audit::to_base64(proof[0]) + "\n", "old 5\n\n",
                                    "old 5\n\n" + at8.substr(0, at8.size() - 1), "old 5\n\nno checkpoint\n\n",
                                    "old 5\n\n" + audit::parse_note(at8).text + "\n"}) {
      INFO(body);
      require_text(fixture.post(body), 400, "");
    }
    std::vector<audit::Hash> long_proof(64, proof[0]);
    require_text(fixture.post(add_checkpoint_body(5, long_proof, at8)), 400, "more than 63");
  }
  SECTION("409: an old size that is not the witness's, answered with its size") {
    require_size(fixture.post(add_checkpoint_body(0, {}, at8)), 5);
    require_size(fixture.post(add_checkpoint_body(3, log.consistency_proof(3, 8), at8)), 5);
    // The client learns 5 and succeeds with it.
    require_cosigned(fixture, fixture.post(add_checkpoint_body(5, proof, at8)), at8, fixture.now);
    require_size(fixture.post(add_checkpoint_body(5, proof, at8)), 8);
  }
  SECTION("422: a proof that does not verify, another root for a cosigned size, size 0 rules") {
    std::vector<audit::Hash> bad = proof;
    bad[0][3] ^= 0x10;
    require_text(fixture.post(add_checkpoint_body(5, bad, at8)), 422, "does not verify");
    std::vector<audit::Hash> short_proof(proof.begin(), proof.end() - 1);
    require_text(fixture.post(add_checkpoint_body(5, short_proof, at8)), 422, "does not verify");
    // A fork: size 8 with another root, checked against the cosigned 5 (its proof can't verify).
    const std::string forked = log.checkpoint(8, audit::leaf_hash("ghost"));
    require_text(fixture.post(add_checkpoint_body(5, proof, forked)), 422, "does not verify");
    // The same size with another root: the split view itself.
    const std::string other5 = log.checkpoint(5, audit::leaf_hash("ghost"));
    require_text(fixture.post(add_checkpoint_body(5, {}, other5)), 422, "was cosigned with root");
    require_text(fixture.post(add_checkpoint_body(5, proof, at5)), 422, "must be empty");
    require_text(fixture.post(add_checkpoint_body(0, proof, at8)), 422, "from old size 0 must be empty");
    // Each was kept as evidence; nothing moved.
    CHECK(fixture.state().refusal_count(kOrigin) == 6);
    CHECK(fixture.state().get(kOrigin)->size == 5);
  }
  SECTION("422: a size-0 checkpoint must carry the empty tree's root") {
    TestLog fresh("fresh.example/log");
    WitnessFixture second({{fresh.config_line()}});
    const std::string wrong = fresh.checkpoint(0, audit::leaf_hash("x"));
    require_text(second.post(add_checkpoint_body(0, {}, wrong)), 422, "empty tree");
    const std::string empty = fresh.checkpoint(0);
    require_cosigned(second, second.post(add_checkpoint_body(0, {}, empty)), empty, second.now);
  }
  SECTION("413, 404 and 405 from the server itself are plain text too, never 500") {
    const auto big = fixture.post(std::string(witness::kMaxRequestBytes + 1, 'a'));
    REQUIRE(big);
    CHECK(big->status == 413);
    CHECK(big->get_header_value("Content-Type") == "text/plain; charset=utf-8");
    const auto nowhere = fixture.client()->Post("/add-checkpoints", "old 0\n", "text/plain");
    REQUIRE(nowhere);
    CHECK(nowhere->status == 404);
    CHECK(nowhere->get_header_value("Content-Type") == "text/plain; charset=utf-8");
    const auto get = fixture.client()->Get("/add-checkpoint");
    REQUIRE(get);
    CHECK(get->status >= 400);
    CHECK(get->status < 500);
  }
  // Whatever was refused, the state is still the cosigned 5 or what a 200 moved it to.
  CHECK(fixture.state().get(kOrigin)->size >= 5);
}
