// The log's side of add-checkpoint (audit/client/witness_client.h) against a real keywitness:
// a first cosignature, a size learned from a 409, and every answer it must not accept.
#include <catch2/catch.hpp>

#include "audit/client/witness_client.h"
#include "tests/witness/witness_fixture.h"

using namespace escrowless;
using namespace escrowless::testing;
using audit::client::FetchError;
using audit::client::WitnessClient;

namespace {

constexpr const char* kOrigin = "log.escrowless.test/c";

WitnessClient client_for(const WitnessFixture& fixture, const audit::CosignerKey& key) {
  audit::PolicyWitness witness{"w1", key, "https://127.0.0.1:" + std::to_string(fixture.port())};
  return WitnessClient(witness, {fixture.cert(), "", 10});
}

}  // namespace

TEST_CASE("witness client: cosigns, learns the witness's size from a 409, verifies every cosignature", "[hsm][http]") {
  TestLog log(kOrigin);
  WitnessFixture fixture({{log.config_line()}});
  const WitnessClient client = client_for(fixture, fixture.cosigner());
  const WitnessClient::ProofSource proofs = [&log](uint64_t from, uint64_t to) { return log.consistency_proof(from, to); };

  uint64_t known = 0;
  const std::string at3 = log.checkpoint(3);
  const std::string line = client.cosign(known, at3, proofs);
  CHECK(known == 3);
  CHECK(audit::verify_cosignature(audit::parse_note(at3 + line), fixture.cosigner()) == fixture.now.load());

  // Another instance of the log that forgot what the witness holds: one 409, then success.
  uint64_t forgot = 0;
  const std::string at8 = log.checkpoint(8);
  CHECK_FALSE(client.add_checkpoint(0, {}, at8).cosignature);
  CHECK(client.add_checkpoint(0, {}, at8).witness_size == 3u);
  const std::string line8 = client.cosign(forgot, at8, proofs);
  CHECK(forgot == 8);
  CHECK(audit::verify_cosignature(audit::parse_note(at8 + line8), fixture.cosigner()).has_value());

  // The witness holds more than this checkpoint: the log is behind what it published.
  uint64_t stale = 0;
  CHECK_THROWS_WITH(client.cosign(stale, at3, proofs), Catch::Contains("has cosigned size 8, beyond this checkpoint's 3"));

  // A refusal is an error naming the status and the witness's words.
  uint64_t at_eight = 8;
  CHECK_THROWS_WITH(client.cosign(at_eight, log.checkpoint(8, audit::leaf_hash("ghost")), proofs),
                    Catch::Contains("answered HTTP 422") && Catch::Contains("was cosigned with root"));
}

TEST_CASE("witness client: a cosignature from another key than the policy's is refused", "[hsm][http]") {
  TestLog log(kOrigin);
  WitnessFixture fixture({{log.config_line()}});
  const SoftwareKey other;
  const WitnessClient client = client_for(fixture, audit::CosignerKey::create(WitnessFixture::kName, other.public_key()));
  uint64_t known = 0;
  CHECK_THROWS_WITH(client.cosign(known, log.checkpoint(2), [](uint64_t, uint64_t) { return std::vector<audit::Hash>{}; }),
                    Catch::Contains("without a valid cosignature"));
  // No server there at all.
  audit::PolicyWitness gone{"w2", fixture.cosigner(), "https://127.0.0.1:1"};
  const WitnessClient nowhere(gone, {fixture.cert(), "", 5});
  CHECK_THROWS_AS(nowhere.add_checkpoint(0, {}, log.checkpoint(2)), FetchError);
}
