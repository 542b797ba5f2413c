// keyaudit verify's parallel audit (audit/keyaudit/parallel_audit.h): prekey signatures checked
// on worker threads must give exactly the findings, in exactly the order, of the serial
// audit::LogAuditor, however far into a large batch a bad signature is; and the per-device
// prepared keys must follow revocations and re-enrollments.
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "audit/keyaudit/parallel_audit.h"
#include "audit/log_auditor.h"
#include "audit/openssl_ptr.h"
#include "audit/prekey.h"
#include "tests/audit/entry_examples.h"

namespace audit = escrowless::audit;
using escrowless::keyaudit::ParallelAudit;

namespace {

// A device with a software Ed25519 identity key, so the test can sign as many prekeys as it
// wants (and a second key for the same device, to re-enroll it).
class SoftDevice {
 public:
  SoftDevice(std::string account, std::string device)
      : account_(std::move(account)), device_(std::move(device)),
        key_(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), EVP_PKEY_free) {
    REQUIRE(key_ != nullptr);
    std::size_t size = raw_.size();
    REQUIRE(EVP_PKEY_get_raw_public_key(key_.get(), raw_.data(), &size) == 1);
  }

  std::vector<uint8_t> public_key() const { return {raw_.begin(), raw_.end()}; }
  audit::TokenKey token_key() const {
    return {audit::KeyAlgorithm::ed25519, {0x01, 0x02}, account_ + "." + device_, public_key(),
            audit::test::softhsm_key_attributes()};
  }

  audit::LogEntry enrolled() const {
    return audit::LogEntry{audit::DeviceEnrolled{audit::test::example_time("2026-11-26T14:02:17.006Z"), account_,
                                                 device_, audit::Actor::admin(), token_key()}};
  }

  audit::LogEntry revoked() const {
    return audit::LogEntry{audit::DeviceRevoked{audit::test::example_time("2027-01-05T09:30:00.000Z"), account_,
                                                device_, token_key().public_key_sha256(), audit::Actor::admin()}};
  }

  // A prekeys.signed entry naming this key, with a signed prekey (and, `last_resort`, an
  // ML-KEM last-resort prekey) signed by `signer` (this device unless told otherwise).
  audit::LogEntry prekeys(uint32_t key_id, bool last_resort, const SoftDevice* signer = nullptr) const {
    const SoftDevice& by = signer ? *signer : *this;
    audit::PrekeysSigned entry;
    entry.time = audit::test::example_time("2026-11-26T14:02:18.250Z");
    entry.account = account_;
    entry.device = device_;
    entry.identity_key_sha256 = token_key().public_key_sha256();
    std::vector<uint8_t> x25519(32, static_cast<uint8_t>(key_id));
    entry.signed_prekey = audit::SignedPrekey{
        key_id, x25519, by.sign(audit::prekey_signature_message(audit::PrekeyKind::signed_prekey, account_, device_, key_id, x25519))};
    if (last_resort) {
      std::vector<uint8_t> mlkem(audit::kMlKem768KeySize, static_cast<uint8_t>(key_id));
      entry.pq_last_resort_prekey = audit::SignedPrekey{
          key_id, mlkem,
          by.sign(audit::prekey_signature_message(audit::PrekeyKind::pq_last_resort_prekey, account_, device_, key_id, mlkem))};
    }
    return audit::LogEntry{std::move(entry)};
  }

 private:
  std::vector<uint8_t> sign(const std::vector<uint8_t>& message) const {
    const audit::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    std::vector<uint8_t> signature(64);
    std::size_t size = signature.size();
    REQUIRE(ctx != nullptr);
    REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1);
    REQUIRE(EVP_DigestSign(ctx.get(), signature.data(), &size, message.data(), message.size()) == 1);
    return signature;
  }

  std::string account_, device_;
  std::shared_ptr<EVP_PKEY> key_;  // shared: copies of a device sign with its one key
  std::array<uint8_t, 32> raw_{};
};

// Flips a bit of the signed prekey's signature (or, `last_resort`, the last-resort prekey's).
audit::LogEntry forged(audit::LogEntry entry, bool last_resort = false) {
  auto& prekeys = std::get<audit::PrekeysSigned>(entry.body);
  (last_resort ? prekeys.pq_last_resort_prekey : prekeys.signed_prekey)->signature[17] ^= 0x20;
  return entry;
}

// entry 0, then one enrollment per device.
std::vector<audit::LogEntry> provisioned_with(const std::vector<SoftDevice>& devices) {
  std::vector<audit::LogEntry> log{audit::LogEntry{audit::test::example_hsm_provisioned()}};
  for (const SoftDevice& device : devices) log.push_back(device.enrolled());
  return log;
}

// `count` prekeys.signed entries round robin over the devices, about one in three with a
// last-resort prekey too.
void add_uploads(std::vector<audit::LogEntry>& log, const std::vector<SoftDevice>& devices, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    log.push_back(devices[i % devices.size()].prekeys(static_cast<uint32_t>(log.size()), i % 3 == 0));
  }
}

// The serial reference: LogAuditor checking every signature inline, entry by entry.
std::vector<audit::Violation> serial(const std::vector<audit::LogEntry>& log) {
  audit::LogAuditor auditor;
  std::vector<audit::Violation> found;
  for (const audit::LogEntry& entry : log) {
    for (audit::Violation& violation : auditor.audit(entry.to_bytes())) found.push_back(std::move(violation));
  }
  return found;
}

std::vector<audit::Violation> parallel(const std::vector<audit::LogEntry>& log, unsigned threads) {
  audit::LogAuditor auditor(audit::AuditorOptions{"", /*defer_signatures=*/true});
  ParallelAudit run(auditor, threads);
  for (const audit::LogEntry& entry : log) run.audit(audit::parse_entry(entry.to_bytes()));
  return run.finish();
}

std::string rules_of(const std::vector<audit::Violation>& found) {
  std::string text;
  for (const audit::Violation& violation : found) {
    text += (text.empty() ? "" : " ") + violation.rule + "@" + std::to_string(violation.index.value_or(99999));
  }
  return text;
}

std::vector<SoftDevice> some_devices(std::size_t count) {
  std::vector<SoftDevice> devices;
  for (std::size_t i = 0; i < count; ++i) devices.emplace_back("acct-" + std::to_string(i / 2), "dev-" + std::to_string(i));
  return devices;
}

}  // namespace

TEST_CASE("parallel audit: a clean large log has no findings", "[unit][concurrency]") {
  const auto devices = some_devices(5);
  auto log = provisioned_with(devices);
  add_uploads(log, devices, 1200);
  audit::LogAuditor auditor(audit::AuditorOptions{"", /*defer_signatures=*/true});
  ParallelAudit run(auditor, 4);
  for (const audit::LogEntry& entry : log) run.audit(entry);
  CHECK(rules_of(run.finish()).empty());
  CHECK(auditor.stats().signatures == 1600);
}

TEST_CASE("parallel audit: bad signatures anywhere in a large batch come out in entry order", "[unit][concurrency]") {
  const auto devices = some_devices(7);
  auto log = provisioned_with(devices);  // entries 0 to 7
  add_uploads(log, devices, 1300);       // entries 8 to 1307 (over five 256-check batches)
  // Early, far into the batch, back to back, the last entry; and at 1010 (an upload with a
  // last-resort prekey: (1010 - 8) % 3 == 0) the last-resort member alone.
  for (const std::size_t index : {9UL, 700UL, 701UL, 1001UL, 1307UL}) log[index] = forged(log[index]);
  log[1010] = forged(log[1010], /*last_resort=*/true);
  // A rules finding amid them: a device never enrolled.
  log[800] = SoftDevice("acct-x", "ghost").prekeys(800, false);

  const auto expected = serial(log);
  REQUIRE(rules_of(expected) ==
          "signature@9 signature@700 signature@701 device_state@800 signature@1001 signature@1010 signature@1307");
  for (const unsigned threads : {2U, 8U}) {
    INFO("threads: " << threads);
    CHECK(parallel(log, threads) == expected);  // same indexes, rules and messages, same order
  }
}

TEST_CASE("parallel audit: many findings on one entry keep the serial order", "[unit][concurrency]") {
  // A device enrolled twice: the second enrollment is a duplicate key and a device_state
  // finding on one entry; a forged signature right after.
  const auto devices = some_devices(2);
  auto log = provisioned_with(devices);
  log.push_back(devices[0].enrolled());
  log.push_back(forged(devices[0].prekeys(1, true), /*last_resort=*/true));
  add_uploads(log, devices, 300);
  log.back() = forged(log.back());
  const auto expected = serial(log);
  REQUIRE(rules_of(expected) == "duplicate_key@3 device_state@3 signature@4 signature@304");
  CHECK(parallel(log, 4) == expected);
}

TEST_CASE("parallel audit: prepared keys follow revocation and re-enrollment", "[unit][concurrency]") {
  const auto devices = some_devices(2);
  const SoftDevice new_key("acct-0", "dev-0");  // a second key for dev-0
  auto log = provisioned_with(devices);  // entries 0 to 2
  add_uploads(log, devices, 400);        // 3 to 402: dev-0's key prepared and in use
  log.push_back(new_key.enrolled());     // 403: enrolled again with another key: flagged, ignored
  log.push_back(new_key.prekeys(7, false));  // 404: names the new key: not the device's
  log.push_back(devices[0].prekeys(8, false, &new_key));  // 405: names the old key, signed by the new
  log.push_back(devices[0].prekeys(9, true));  // 406: the old key still works
  log.push_back(devices[0].revoked());         // 407
  log.push_back(devices[0].prekeys(10, false));  // 408: revoked: a device_state finding
  log.push_back(devices[1].prekeys(11, true));   // 409: the other device is untouched

  const auto expected = serial(log);
  REQUIRE(rules_of(expected) == "device_state@403 device_state@404 signature@405 device_state@408");
  CHECK(parallel(log, 3) == expected);

  // Checks queued before the revocation still verify with the key it dropped: the same log,
  // with the revocation audited while its device's checks are still queued (one batch).
  audit::LogAuditor auditor(audit::AuditorOptions{"", /*defer_signatures=*/true});
  std::vector<audit::SignatureCheck> checks;
  for (const audit::LogEntry& entry : log) {
    (void)auditor.audit(entry);
    for (audit::SignatureCheck& check : auditor.take_signature_checks()) checks.push_back(std::move(check));
  }
  std::string failing;
  for (const audit::SignatureCheck& check : checks) {
    if (check.run()) failing += std::to_string(check.index) + " ";
  }
  CHECK(failing == "405 ");
}

TEST_CASE("parallel audit: a resumed auditor prepares its keys again", "[unit][concurrency]") {
  const auto devices = some_devices(3);
  auto log = provisioned_with(devices);
  add_uploads(log, devices, 300);
  log[250] = forged(log[250]);
  log.push_back(devices[2].revoked());
  add_uploads(log, {devices[0], devices[1]}, 100);
  log[390] = forged(log[390]);
  const auto expected = serial(log);
  REQUIRE(rules_of(expected) == "signature@250 signature@390");

  audit::AuditorOptions options{"", /*defer_signatures=*/true};
  audit::LogAuditor first(options);
  std::vector<audit::Violation> found;
  {
    ParallelAudit run(first, 2);
    for (std::size_t i = 0; i < 200; ++i) run.audit(log[i]);
    found = run.finish();
  }
  audit::LogAuditor resumed = audit::LogAuditor::from_json(nlohmann::json::parse(first.to_json().dump()), options);
  ParallelAudit run(resumed, 2);
  for (std::size_t i = 200; i < log.size(); ++i) run.audit(log[i]);
  for (audit::Violation& violation : run.finish()) found.push_back(std::move(violation));
  CHECK(found == expected);
}
