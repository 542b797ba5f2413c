// The capability rule for flags a token forces (docs/log-format.md section 6, forced flags):
// decrypt, unwrap or derive true on an EC private key is accepted only when the newest logged
// mechanism list offers no mechanism that could use an EC key for it; never without a list.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "audit/encoding.h"
#include "audit/key_policy.h"
#include "audit/log_auditor.h"
#include "tests/audit/entry_examples.h"

using namespace escrowless::audit;
using namespace escrowless::audit::test;

namespace {

constexpr uint64_t kSign = 0x800, kVerify = 0x2000, kEncrypt = 0x100, kGenerateKeyPair = 0x10000;

// What tpm2-pkcs11 offers, in kind: EC keys for signing only; decryption with RSA and AES keys.
std::vector<TokenMechanism> tpm2_like() {
  return {{0x1040, 256, 256, kGenerateKeyPair},           // CKM_EC_KEY_PAIR_GEN
          {0x1041, 256, 256, kSign | kVerify},             // CKM_ECDSA
          {0x0001, 1024, 2048, kEncrypt | kCkfDecrypt | kSign},  // CKM_RSA_PKCS
          {0x0009, 1024, 2048, kEncrypt | kCkfDecrypt},    // CKM_RSA_PKCS_OAEP
          {0x1082, 16, 32, kEncrypt | kCkfDecrypt},        // CKM_AES_CBC
          {0x1054, 2048, 4096, kCkfUnwrap}};               // CKM_RSA_AES_KEY_WRAP: RSA keys
}

std::vector<TokenMechanism> plus(std::vector<TokenMechanism> list, TokenMechanism extra) {
  list.push_back(extra);
  return list;
}

Attributes with_flags(std::initializer_list<std::pair<const char*, bool>> changes) {
  Attributes flags = softhsm_key_attributes().private_key;
  for (const auto& [name, value] : changes) flags[name] = value;
  return flags;
}

std::string faults_of(const PrivateKeyFindings& findings) { return join_phrases(findings.faults); }

}  // namespace

TEST_CASE("key policy: a forced decrypt on an EC key is accepted when no logged mechanism could decrypt with one", "[unit]") {
  const auto list = tpm2_like();
  const PrivateKeyFindings findings = weigh_private_key(with_flags({{"decrypt", true}}), KeyType::ec, &list);
  CHECK(findings.faults.empty());
  CHECK(findings.accepted == std::vector<std::string>{"decrypt"});
  // Unwrap and derive the same way (nothing in the list unwraps or derives with an EC key).
  const PrivateKeyFindings all =
      weigh_private_key(with_flags({{"decrypt", true}, {"unwrap", true}, {"derive", true}}), KeyType::ec, &list);
  CHECK(all.faults.empty());
  CHECK(all.accepted == std::vector<std::string>{"decrypt", "unwrap", "derive"});
  // A clean key needs nothing accepted.
  CHECK(weigh_private_key(with_flags({}), KeyType::ec, &list).accepted.empty());
}

TEST_CASE("key policy: ECDH1_DERIVE with the derive flag rejects a forced derive", "[unit]") {
  const auto list = plus(tpm2_like(), {0x1050, 256, 521, kCkfDerive});  // CKM_ECDH1_DERIVE
  const PrivateKeyFindings derive = weigh_private_key(with_flags({{"derive", true}}), KeyType::ec, &list);
  CHECK(derive.accepted.empty());
  CHECK_THAT(faults_of(derive), Catch::Contains("able to derive") && Catch::Contains("0x00001050"));
  // Its flag is derive only: a forced decrypt stays acceptable with the same list.
  CHECK(weigh_private_key(with_flags({{"decrypt", true}}), KeyType::ec, &list).faults.empty());
  for (const uint64_t type : {0x1051ULL, 0x1052ULL}) {  // COFACTOR_DERIVE, ECMQV_DERIVE
    INFO(type);
    const auto other = plus(tpm2_like(), {type, 256, 521, kCkfDerive});
    CHECK_FALSE(weigh_private_key(with_flags({{"derive", true}}), KeyType::ec, &other).faults.empty());
  }
  // ECDH key wrapping unwraps with an EC key; RSA-AES key wrapping (in tpm2_like) does not.
  for (const uint64_t type : {0x1053ULL, 0x4038ULL, 0x4039ULL}) {
    INFO(type);
    const auto wrapping = plus(tpm2_like(), {type, 256, 521, kCkfUnwrap});
    CHECK_THAT(faults_of(weigh_private_key(with_flags({{"unwrap", true}}), KeyType::ec, &wrapping)),
               Catch::Contains("able to unwrap"));
  }
}

TEST_CASE("key policy: a vendor-defined mechanism able to decrypt rejects a forced decrypt", "[unit]") {
  const auto list = plus(tpm2_like(), {0x80000123, 0, 0, kEncrypt | kCkfDecrypt});
  const PrivateKeyFindings findings = weigh_private_key(with_flags({{"decrypt", true}}), KeyType::ec, &list);
  CHECK(findings.accepted.empty());
  CHECK_THAT(faults_of(findings), Catch::Contains("able to decrypt") && Catch::Contains("0x80000123"));
  CHECK(mechanism_could_use_ec_key(0x80000000));
  CHECK(mechanism_could_use_ec_key(0xffffffff));
  CHECK_FALSE(mechanism_could_use_ec_key(0x1054));  // CKM_RSA_AES_KEY_WRAP
  CHECK_FALSE(mechanism_could_use_ec_key(0x1082));  // CKM_AES_CBC
}

TEST_CASE("key policy: without a logged mechanism list a forced flag stays a violation", "[unit]") {
  const PrivateKeyFindings none = weigh_private_key(with_flags({{"decrypt", true}}), KeyType::ec, nullptr);
  CHECK(none.accepted.empty());
  CHECK_THAT(faults_of(none), Catch::Contains("able to decrypt") && Catch::Contains("no mechanism list is logged"));
  const std::vector<TokenMechanism> empty;
  CHECK_THAT(faults_of(weigh_private_key(with_flags({{"decrypt", true}}), KeyType::ec, &empty)),
             Catch::Contains("able to decrypt"));
  // Only EC keys: an Ed25519 key or one of unknown type is never excused.
  const auto list = tpm2_like();
  CHECK(faults_of(weigh_private_key(with_flags({{"decrypt", true}}), KeyType::ec_edwards, &list)) == "able to decrypt");
  CHECK(faults_of(weigh_private_key(with_flags({{"decrypt", true}}), std::nullopt, &list)) == "able to decrypt");
  // And never anything but decrypt, unwrap and derive.
  CHECK(faults_of(weigh_private_key(with_flags({{"extractable", true}}), KeyType::ec, &list)) == "extractable");
  CHECK(faults_of(weigh_private_key(with_flags({{"sensitive", false}}), KeyType::ec, &list)) == "not sensitive");
  CHECK_THAT(faults_of(weigh_private_key(with_flags({{"local", false}}), KeyType::ec, &list)),
             Catch::Contains("local is false"));
}

TEST_CASE("auditor: a forced decrypt is a note with hsm.provisioned's mechanism list and a violation without", "[unit]") {
  DeviceEnrolled p256 = example_device_enrolled();
  p256.identity_key.algorithm = KeyAlgorithm::ecdsa_p256;
  p256.identity_key.public_key = hex_decode(kLogKeyP256Hex);
  p256.identity_key.attributes.private_key["decrypt"] = true;

  HsmProvisioned provisioned = example_hsm_provisioned();
  provisioned.mechanisms = tpm2_like();
  LogAuditor auditor;
  CHECK(auditor.audit(LogEntry{provisioned}.to_bytes()).empty());
  CHECK(auditor.audit(LogEntry{p256}.to_bytes()).empty());
  std::vector<Violation> notes = auditor.notes();
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].rule == "forced_flag");
  CHECK(notes[0].index == 1U);
  CHECK_THAT(notes[0].message, Catch::Contains("decrypt true, forced by the token, accepted 1 time") &&
                                   Catch::Contains("mechanism list first logged at entry 0"));

  // The list survives a saved state: a resumed auditor weighs the next key against it too.
  DeviceEnrolled laptop = p256;
  laptop.device = "laptop";
  // (the same point as the phone's: a duplicate_key finding, not what this checks)
  LogAuditor resumed = LogAuditor::from_json(auditor.to_json());
  for (const Violation& violation : resumed.audit(LogEntry{laptop}.to_bytes())) {
    CHECK(violation.rule != "key_policy");
  }
  CHECK(resumed.notes().size() == 1);

  // hsm.provisioned of schema 1 carries no list: the same key is a violation.
  LogAuditor blind;
  CHECK(blind.audit(LogEntry{example_hsm_provisioned()}.to_bytes()).empty());
  const std::vector<Violation> found = blind.audit(LogEntry{p256}.to_bytes());
  REQUIRE(found.size() == 1);
  CHECK(found[0].rule == "key_policy");
  CHECK_THAT(found[0].message, Catch::Contains("able to decrypt") && Catch::Contains("no mechanism list is logged"));
  CHECK(blind.notes().empty());

  // A list that offers derive with EC keys makes a forced derive a violation, not a note.
  HsmProvisioned ecdh = provisioned;
  ecdh.mechanisms->push_back({0x1050, 256, 521, kCkfDerive});
  DeviceEnrolled deriving = p256;
  deriving.identity_key.attributes.private_key["derive"] = true;
  LogAuditor strict;
  CHECK(strict.audit(LogEntry{ecdh}.to_bytes()).empty());
  const std::vector<Violation> derive_found = strict.audit(LogEntry{deriving}.to_bytes());
  REQUIRE(derive_found.size() == 1);
  CHECK_THAT(derive_found[0].message, Catch::Contains("able to derive") && Catch::Contains("0x00001050"));
}
