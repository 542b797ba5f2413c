// The no-escrow auditor's rules, each broken once by a crafted entry (the example entries of
// entry_examples.h, changed one field at a time), and its state surviving a JSON round trip.
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <string>
#include <vector>

#include "audit/log_auditor.h"
#include "audit/openssl_ptr.h"
#include "tests/audit/entry_examples.h"

using namespace escrowless::audit;
using namespace escrowless::audit::test;

namespace {

// A fresh software Ed25519 key, for a second device.
std::vector<uint8_t> random_ed25519_public_key() {
  const EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  REQUIRE(key != nullptr);
  std::vector<uint8_t> raw(32);
  size_t size = raw.size();
  REQUIRE(EVP_PKEY_get_raw_public_key(key.get(), raw.data(), &size) == 1);
  return raw;
}

std::vector<uint8_t> bytes(const LogEntry& entry) { return entry.to_bytes(); }

// Audits `entries` from index 0 and returns every violation found.
std::vector<Violation> run(LogAuditor& auditor, const std::vector<LogEntry>& entries) {
  std::vector<Violation> found;
  for (const LogEntry& entry : entries) {
    for (Violation& violation : auditor.audit(bytes(entry))) found.push_back(std::move(violation));
  }
  return found;
}

std::vector<Violation> run(const std::vector<LogEntry>& entries) {
  LogAuditor auditor;
  return run(auditor, entries);
}

std::string rules_of(const std::vector<Violation>& found) {
  std::string text;
  for (const Violation& violation : found) {
    text += (text.empty() ? "" : " ") + violation.rule + "@" + std::to_string(violation.index.value_or(9999));
  }
  return text;
}

// entry 0, entry 1: the examples' provisioned log and enrolled alice/phone.
std::vector<LogEntry> base() {
  return {LogEntry{example_hsm_provisioned()}, LogEntry{example_device_enrolled()}};
}

std::vector<LogEntry> with(std::vector<LogEntry> entries, const LogEntry& more) {
  entries.push_back(more);
  return entries;
}

InventoryObject secret_key(std::string label, Attributes flags) {
  return InventoryObject{ObjectClass::secret_key, KeyType::aes, {0x01}, std::move(label), std::move(flags), std::nullopt, std::nullopt};
}

}  // namespace

TEST_CASE("auditor: a clean log has no violations", "[unit]") {
  LogAuditor auditor(LogAuditor::Options{example_hsm_provisioned().verifier_key()});
  const auto found = run(auditor, {LogEntry{example_hsm_provisioned()}, LogEntry{example_device_enrolled()},
                                   LogEntry{example_prekeys_signed_full()}, LogEntry{example_hsm_inventory()}});
  CHECK(rules_of(found).empty());
  CHECK(auditor.next_index() == 4);
  CHECK(auditor.stats().signatures == 2);
  CHECK(auditor.stats().inventory_keys == 2);
}

TEST_CASE("auditor: private key rules on identity keys and inventory objects", "[unit]") {
  DeviceEnrolled extractable = example_device_enrolled();
  extractable.identity_key.attributes.private_key["extractable"] = true;
  auto found = run({LogEntry{example_hsm_provisioned()}, LogEntry{extractable}});
  REQUIRE(rules_of(found) == "key_policy@1");
  CHECK_THAT(found[0].message, Catch::Contains("alice/phone") && Catch::Contains("extractable"));

  for (const auto& [flag, value, phrase] : std::vector<std::tuple<std::string, bool, std::string>>{
           {"sensitive", false, "not sensitive"},
           {"always_sensitive", false, "not always-sensitive"},
           {"never_extractable", false, "not never-extractable"},
           {"local", false, "not generated in the token"},
           {"decrypt", true, "able to decrypt"},
           {"unwrap", true, "able to unwrap"},
           {"derive", true, "able to derive"},
           {"wrap", true, "able to wrap"}}) {
    HsmInventory inventory = example_hsm_inventory();
    inventory.objects[0].flags[flag] = value;
    found = run(with(base(), LogEntry{inventory}));
    INFO(flag);
    REQUIRE(rules_of(found) == "key_policy@2");
    CHECK_THAT(found[0].message, Catch::Contains("'alice.phone'") && Catch::Contains(phrase));
  }

  HsmInventory silent = example_hsm_inventory();
  silent.objects[1].flags.erase("never_extractable");  // the token is not saying: a finding too
  found = run(with(base(), LogEntry{silent}));
  REQUIRE(rules_of(found) == "key_policy@2");
  CHECK_THAT(found[0].message, Catch::Contains("never_extractable not reported"));

  HsmProvisioned bad_log_key = example_hsm_provisioned();
  bad_log_key.log_key.attributes.private_key["decrypt"] = true;
  CHECK(rules_of(run({LogEntry{bad_log_key}})) == "key_policy@0");
}

TEST_CASE("auditor: secret keys able to wrap unwrap or decrypt are escrow capabilities", "[unit]") {
  HsmInventory inventory = example_hsm_inventory();
  inventory.objects.push_back(secret_key("wrapper", {{"wrap", true}, {"unwrap", false}, {"decrypt", false}}));
  inventory.objects.push_back(secret_key("opener", {{"wrap", false}, {"unwrap", true}, {"decrypt", true}}));
  inventory.objects.push_back(secret_key("mac", {{"wrap", false}, {"unwrap", false}, {"decrypt", false}, {"sign", true}}));
  const auto found = run(with(base(), LogEntry{inventory}));
  REQUIRE(rules_of(found) == "escrow_capability@2 escrow_capability@2");
  CHECK_THAT(found[0].message, Catch::Contains("'wrapper'") && Catch::Contains("able to wrap"));
  CHECK_THAT(found[1].message, Catch::Contains("'opener'") && Catch::Contains("able to unwrap and able to decrypt"));
}

TEST_CASE("auditor: every private key in an inventory must be accounted for", "[unit]") {
  HsmInventory inventory = example_hsm_inventory();
  TokenKey hidden = device_key();
  hidden.public_key = random_ed25519_public_key();
  hidden.label = "hidden";
  hidden.key_id = {0x01, 0x02};  // an id of its own: sharing one is another rule (duplicate_id)
  inventory.objects.push_back(inventory_object(ObjectClass::private_key, hidden));
  InventoryObject no_hash = inventory_object(ObjectClass::private_key, hidden);
  no_hash.label = "no-hash";
  no_hash.id = {0x03};
  no_hash.public_key_sha256.reset();
  inventory.objects.push_back(no_hash);
  auto found = run(with(base(), LogEntry{inventory}));
  REQUIRE(rules_of(found) == "unaccounted_key@2 unaccounted_key@2");
  CHECK_THAT(found[0].message, Catch::Contains("'hidden'") && Catch::Contains("accounted for by no"));
  CHECK_THAT(found[1].message, Catch::Contains("'no-hash'") && Catch::Contains("no public key hash"));

  // Before its enrollment, the device key is unaccounted for too.
  found = run({LogEntry{example_hsm_provisioned()}, LogEntry{example_hsm_inventory()}});
  REQUIRE(rules_of(found) == "unaccounted_key@1");
  CHECK_THAT(found[0].message, Catch::Contains("'alice.phone'"));

  // After its revocation, a key still on the token is reported as such.
  DeviceRevoked revoked = example_device_revoked();
  revoked.revoked_by = Actor::admin();
  found = run(with(with(base(), LogEntry{revoked}), LogEntry{example_hsm_inventory()}));
  REQUIRE(rules_of(found) == "revoked_key@3");
  CHECK_THAT(found[0].message, Catch::Contains("alice/phone") && Catch::Contains("revoked at entry 2"));
}

TEST_CASE("auditor: prekeys and revocations need an enrolled unrevoked device", "[unit]") {
  auto found = run({LogEntry{example_hsm_provisioned()}, LogEntry{example_prekeys_signed()}});
  REQUIRE(rules_of(found) == "device_state@1");
  CHECK_THAT(found[0].message, Catch::Contains("prekeys.signed for device alice/phone, which was never enrolled"));

  DeviceRevoked revoked = example_device_revoked();
  revoked.revoked_by = Actor::admin();
  found = run({LogEntry{example_hsm_provisioned()}, LogEntry{revoked}});
  REQUIRE(rules_of(found) == "device_state@1");
  CHECK_THAT(found[0].message, Catch::Contains("device.revoked for device alice/phone, which was never enrolled"));

  found = run(with(with(with(base(), LogEntry{revoked}), LogEntry{revoked}), LogEntry{example_prekeys_signed()}));
  REQUIRE(rules_of(found) == "device_state@3 device_state@4");
  CHECK_THAT(found[0].message, Catch::Contains("already revoked at entry 2"));
  CHECK_THAT(found[1].message, Catch::Contains("prekeys.signed") && Catch::Contains("already revoked"));

  found = run(with(base(), LogEntry{example_device_enrolled()}));
  REQUIRE(rules_of(found) == "duplicate_key@2 device_state@2");
  CHECK_THAT(found[1].message, Catch::Contains("enrolled again"));

  PrekeysSigned other_key = example_prekeys_signed();
  other_key.identity_key_sha256 = log_key().public_key_sha256();
  CHECK(rules_of(run(with(base(), LogEntry{other_key}))) == "device_state@2");
}

TEST_CASE("auditor: a prekey signature must verify under the logged identity key", "[unit]") {
  PrekeysSigned forged = example_prekeys_signed_full();
  forged.signed_prekey->signature[5] ^= 0x01;
  auto found = run(with(base(), LogEntry{forged}));
  REQUIRE(rules_of(found) == "signature@2");
  CHECK_THAT(found[0].message, Catch::Contains("alice/phone") && Catch::Contains("logged at entry 1"));

  forged = example_prekeys_signed_full();
  forged.pq_last_resort_prekey->signature[60] ^= 0x80;
  CHECK(rules_of(run(with(base(), LogEntry{forged}))) == "signature@2");

  // The right signatures, but by a device enrolled with another key: they don't verify under it.
  DeviceEnrolled other = example_device_enrolled();
  other.identity_key.public_key = random_ed25519_public_key();
  PrekeysSigned signed_by_other = example_prekeys_signed();
  signed_by_other.identity_key_sha256 = other.identity_key.public_key_sha256();
  CHECK(rules_of(run({LogEntry{example_hsm_provisioned()}, LogEntry{other}, LogEntry{signed_by_other}})) ==
        "signature@2");
}

TEST_CASE("auditor: actors keys tokens and entry 0", "[unit]") {
  DeviceEnrolled by_stranger = example_device_enrolled();
  by_stranger.enrolled_by = Actor::of_device("tablet");
  auto found = run({LogEntry{example_hsm_provisioned()}, LogEntry{by_stranger}});
  REQUIRE(rules_of(found) == "actor@1");
  CHECK_THAT(found[0].message, Catch::Contains("device:tablet enrolled alice/phone"));

  DeviceRevoked self = example_device_revoked();
  self.revoked_by = Actor::of_device("phone");  // a device may revoke itself
  CHECK(rules_of(run(with(base(), LogEntry{self}))).empty());

  DeviceEnrolled log_key_as_device = example_device_enrolled();
  log_key_as_device.device = "tablet";
  log_key_as_device.identity_key.public_key = log_key().public_key;
  found = run(with(base(), LogEntry{log_key_as_device}));
  REQUIRE(rules_of(found) == "duplicate_key@2");
  CHECK_THAT(found[0].message, Catch::Contains("already the log key"));

  HsmInventory other_token = example_hsm_inventory();
  other_token.token.serial = "0000";
  CHECK(rules_of(run(with(base(), LogEntry{other_token}))) == "token@2");

  CHECK(rules_of(run({LogEntry{example_device_enrolled()}})) == "provisioned@0");
  CHECK(rules_of(run(with(base(), LogEntry{example_hsm_provisioned()}))) == "provisioned@2");
  LogAuditor pinned(LogAuditor::Options{example_hsm_provisioned_ecdsa().verifier_key()});
  found = run(pinned, base());
  REQUIRE(rules_of(found) == "provisioned@0");
  CHECK_THAT(found[0].message, Catch::Contains("not the pinned verifier key"));
}

TEST_CASE("auditor: entries that do not parse are schema violations", "[unit]") {
  LogAuditor auditor;
  CHECK(rules_of(run(auditor, base())).empty());
  auto found = auditor.audit(bytes_of("not json"));
  REQUIRE(rules_of(found) == "schema@2");
  const auto canonical = bytes(LogEntry{example_prekeys_signed()});
  std::string text(canonical.begin(), canonical.end());
  text.insert(1, " ");  // not the canonical form
  found = auditor.audit(bytes_of(text));
  REQUIRE(rules_of(found) == "schema@3");
  CHECK(auditor.next_index() == 4);
}

TEST_CASE("auditor: state survives a JSON round trip mid-log", "[unit]") {
  DeviceRevoked revoked = example_device_revoked();
  revoked.revoked_by = Actor::admin();
  const std::vector<LogEntry> first = base();
  const std::vector<LogEntry> second = {LogEntry{example_prekeys_signed_full()}, LogEntry{revoked},
                                        LogEntry{example_prekeys_signed()}, LogEntry{example_hsm_inventory()}};
  const std::string vkey = example_hsm_provisioned().verifier_key();

  LogAuditor whole(LogAuditor::Options{vkey});
  run(whole, first);
  const auto expected = run(whole, second);
  REQUIRE(rules_of(expected) == "device_state@4 revoked_key@5");

  LogAuditor part(LogAuditor::Options{vkey});
  run(part, first);
  const std::string saved = part.to_json().dump();
  LogAuditor resumed = LogAuditor::from_json(nlohmann::json::parse(saved), LogAuditor::Options{vkey});
  CHECK(resumed.next_index() == 2);
  CHECK(run(resumed, second) == expected);
  CHECK(resumed.to_json() == whole.to_json());

  CHECK_THROWS_MATCHES(LogAuditor::from_json(nlohmann::json::parse(saved),
                                             LogAuditor::Options{example_hsm_provisioned_ecdsa().verifier_key()}),
                       Error, IsInvalidInput());
  nlohmann::json broken = nlohmann::json::parse(saved);
  broken["devices"][0]["public_key"] = "AAAA";
  CHECK_THROWS_MATCHES(LogAuditor::from_json(broken), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(LogAuditor::from_json(nlohmann::json::object()), Error, IsInvalidInput());
}

TEST_CASE("auditor: deferred signature checks find what inline checks find", "[unit]") {
  PrekeysSigned forged = example_prekeys_signed_full();
  forged.signed_prekey->signature[0] ^= 0x01;
  const auto entries = with(with(base(), LogEntry{example_prekeys_signed_full()}), LogEntry{forged});
  const auto inline_found = run(entries);
  REQUIRE(rules_of(inline_found) == "signature@3");

  LogAuditor deferred(LogAuditor::Options{"", /*defer_signatures=*/true});
  CHECK(rules_of(run(deferred, entries)).empty());
  const std::vector<SignatureCheck> checks = deferred.take_signature_checks();
  REQUIRE(checks.size() == 2);
  CHECK(deferred.take_signature_checks().empty());
  CHECK(checks[0].index == 2);
  CHECK_FALSE(checks[0].run());
  const auto violation = checks[1].run();
  REQUIRE(violation);
  CHECK(*violation == inline_found[0]);
  CHECK(deferred.stats().signatures == 4);
}
