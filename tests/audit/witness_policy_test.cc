// Witness policies (Sigsum's policy format with vkeys): parsing with line-numbered errors, and
// the quorum over groups of groups, with real cosignatures checked for validity and freshness.
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include "audit/cosignature.h"
#include "audit/note.h"
#include "audit/openssl_ptr.h"
#include "audit/witness_policy.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::IsInvalidInput;
using test::IsMismatch;

namespace {

// A witness with a fixed test secret: byte `seed` repeated.
struct TestWitness {
  std::string name;
  std::vector<uint8_t> secret;
  CosignerKey key;

  static TestWitness make(const std::string& name, uint8_t seed) {
    std::vector<uint8_t> secret(32, seed);
    const EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, secret.data(), secret.size()));
    REQUIRE(pkey);
    std::vector<uint8_t> pub(32);
    std::size_t length = pub.size();
    REQUIRE(EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &length) == 1);
    return {name, secret, CosignerKey::create(name, pub)};
  }

  std::string cosign(const std::string& text, uint64_t timestamp) const {
    return cosignature_line(key, text, timestamp, [this](std::span<const uint8_t> message) {
      const EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, secret.data(), secret.size()));
      const EvpMdCtxPtr ctx(EVP_MD_CTX_new());
      REQUIRE(EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey.get(), nullptr) == 1);
      std::vector<uint8_t> signature(64);
      std::size_t size = signature.size();
      REQUIRE(EVP_DigestSign(ctx.get(), signature.data(), &size, message.data(), message.size()) == 1);
      return signature;
    });
  }
};

// transparency-dev/formats' test key (tests/data/cosignature/known_answers.json).
const std::string kLogKey = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6";

std::string policy_text(const std::vector<TestWitness>& w) {
  return "# two of the X witnesses and one of the Y witnesses\n"
         "log " + kLogKey + " https://log.example\n"
         "witness X1 " + w[0].key.to_string() + " https://x1.example\n"
         "witness X2 " + w[1].key.to_string() + "\n"
         "witness X3 " + w[2].key.to_string() + "   # trailing comment\n"
         "group X-witnesses 2 X1 X2 X3\n"
         "\n"
         "witness Y1 " + w[3].key.to_string() + "\n"
         "witness Y2 " + w[4].key.to_string() + "\n"
         "group Y-witnesses any Y1 Y2\n"
         "group X-and-Y all X-witnesses Y-witnesses\n"
         "quorum X-and-Y\n";
}

std::vector<TestWitness> five_witnesses() {
  return {TestWitness::make("x1.example/w", 1), TestWitness::make("x2.example/w", 2), TestWitness::make("x3.example/w", 3),
          TestWitness::make("y1.example/w", 4), TestWitness::make("y2.example/w", 5)};
}

std::string policy_error(const std::string& text) {
  try {
    parse_witness_policy(text);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::invalid_input);
    return e.what();
  }
  FAIL("the policy was accepted:\n" << text);
  return {};
}

}  // namespace

TEST_CASE("witness policy: the Sigsum example with groups of groups", "[unit]") {
  const auto w = five_witnesses();
  const WitnessPolicy policy = parse_witness_policy(policy_text(w));
  REQUIRE(policy.logs.size() == 1);
  CHECK(policy.logs[0].url == "https://log.example");
  REQUIRE(policy.witnesses.size() == 5);
  CHECK(policy.witnesses[0].name == "X1");
  CHECK(policy.witnesses[0].url == "https://x1.example");
  CHECK(policy.witnesses[1].url.empty());
  CHECK(policy.witnesses[2].key.to_string() == w[2].key.to_string());
  REQUIRE(policy.groups.size() == 3);
  CHECK(policy.groups[0].threshold == 2);
  CHECK(policy.groups[1].threshold == 1);
  CHECK(policy.groups[2].threshold == 2);
  CHECK(policy.quorum == "X-and-Y");

  CHECK(evaluate_quorum(policy, {"X1", "X3", "Y2"}).met);
  const QuorumResult one_x = evaluate_quorum(policy, {"X1", "Y1", "Y2"});
  CHECK_FALSE(one_x.met);
  CHECK(one_x.missing == std::vector<std::string>{"X2", "X3"});
  const QuorumResult no_y = evaluate_quorum(policy, {"X1", "X2", "X3"});
  CHECK_FALSE(no_y.met);
  CHECK(no_y.missing == std::vector<std::string>{"Y1", "Y2"});
  CHECK_FALSE(evaluate_quorum(policy, {}).met);

  CHECK(evaluate_quorum(parse_witness_policy("quorum none\n"), {}).met);
  const WitnessPolicy single = parse_witness_policy("witness A " + w[0].key.to_string() + "\nquorum A");
  CHECK(evaluate_quorum(single, {"A"}).met);
  CHECK(evaluate_quorum(single, {"B"}).missing == std::vector<std::string>{"A"});
}

TEST_CASE("witness policy: errors name the line", "[unit]") {
  const auto w = five_witnesses();
  const std::string a = "witness A " + w[0].key.to_string() + "\n";
  const std::string b = "witness B " + w[1].key.to_string() + "\n";
  CHECK_THAT(policy_error(a + "quorum B\n"), Catch::StartsWith("policy line 2: 'B' is not defined on a line before"));
  CHECK_THAT(policy_error(a + "group G 2 A B\n" + b + "quorum G\n"), Catch::StartsWith("policy line 2:"));
  CHECK_THAT(policy_error(a + "witness A " + w[1].key.to_string() + "\nquorum A\n"),
             Catch::StartsWith("policy line 2: 'A' is defined twice"));
  CHECK_THAT(policy_error(a + b + "group G 3 A B\nquorum G\n"), Catch::StartsWith("policy line 3: threshold '3'"));
  CHECK_THAT(policy_error(a + b + "group G 0 A B\nquorum G\n"), Catch::StartsWith("policy line 3: threshold"));
  CHECK_THAT(policy_error(a + b + "group G 01 A B\nquorum G\n"), Catch::StartsWith("policy line 3: threshold"));
  CHECK_THAT(policy_error(a + b + "group G some A B\nquorum G\n"), Catch::StartsWith("policy line 3: threshold"));
  CHECK_THAT(policy_error(a + "group G any A A\nquorum G\n"), Catch::StartsWith("policy line 2: group 'G' names 'A' twice"));
  CHECK_THAT(policy_error(a + "group G any\nquorum A\n"), Catch::StartsWith("policy line 2: expected 'group"));
  CHECK_THAT(policy_error(a + "quorum A\nquorum A\n"), Catch::StartsWith("policy line 3: a second quorum line"));
  CHECK_THAT(policy_error(a), Catch::StartsWith("policy: no quorum line"));
  CHECK_THAT(policy_error("\n\nwitnes A " + w[0].key.to_string() + "\nquorum none\n"),
             Catch::StartsWith("policy line 3: unknown keyword 'witnes'"));
  CHECK_THAT(policy_error("witness A\nquorum none\n"), Catch::StartsWith("policy line 1: expected 'witness"));
  CHECK_THAT(policy_error("witness A not-a-vkey\nquorum none\n"), Catch::StartsWith("policy line 1: witness key"));
  CHECK_THAT(policy_error("witness none " + w[0].key.to_string() + "\nquorum none\n"),
             Catch::StartsWith("policy line 1: 'none' is predefined"));
  CHECK_THAT(policy_error("log not-a-vkey\nquorum none\n"), Catch::StartsWith("policy line 1: verifier key"));
  // Sigsum's raw hex keys are not vkeys.
  CHECK_THAT(policy_error("witness A 1c25f8a44c635457e2e391d1efbca7d4c2951a0aef06225a881e46b98962ac6c\nquorum A\n"),
             Catch::StartsWith("policy line 1: witness key"));
}

TEST_CASE("witness policy: a checkpoint meets the quorum with valid, fresh cosignatures only", "[unit]") {
  const auto w = five_witnesses();
  const WitnessPolicy policy = parse_witness_policy(policy_text(w));
  const std::string text = "log.escrowless.test/v1\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  // The log's own signature (not checked here: open_checkpoint does that) and cosignatures.
  const std::string log_line = format_signature_line("log.escrowless.test/v1", 0x7997405c, std::vector<uint8_t>(64, 7));
  const uint64_t now = 1'800'000'000;
  const std::string signed_note = text + "\n" + log_line;

  const std::string met = signed_note + w[0].cosign(text, now - 10) + w[2].cosign(text, now) + w[4].cosign(text, now - 5);
  CHECK(check_cosigned_checkpoint(policy, met, now, 3600).met);

  // X3's cosignature is older than the allowed age: only one X witness counts.
  const std::string stale = signed_note + w[0].cosign(text, now) + w[2].cosign(text, now - 7200) + w[4].cosign(text, now);
  const QuorumResult result = check_cosigned_checkpoint(policy, stale, now, 3600);
  CHECK_FALSE(result.met);
  CHECK(result.missing == std::vector<std::string>{"X2", "X3", "Y1"});  // Y1 did not cosign at all
  // ... and one from the future is not counted either.
  const std::string ahead = signed_note + w[0].cosign(text, now) + w[2].cosign(text, now + 3600) + w[4].cosign(text, now);
  CHECK_FALSE(check_cosigned_checkpoint(policy, ahead, now, 3600).met);

  // A cosignature of another checkpoint is a failure, not an absence.
  const std::string other = "log.escrowless.test/v1\n13\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  const std::string forged = signed_note + w[0].cosign(other, now) + w[2].cosign(text, now) + w[4].cosign(text, now);
  CHECK_THROWS_MATCHES(check_cosigned_checkpoint(policy, forged, now, 3600), Error, IsMismatch());
  CHECK_THROWS_MATCHES(check_cosigned_checkpoint(policy, "not a note", now, 3600), Error, IsInvalidInput());
}
