// The account owner's monitor: the expect file's format, and each unexpected entry reported.
#include <catch2/catch.hpp>

#include "audit/account_monitor.h"
#include "tests/audit/entry_examples.h"

using namespace escrowless::audit;
using namespace escrowless::audit::test;
using nlohmann::json;

namespace {

json phone_expected() {
  return {{"device", "phone"}, {"identity_key_sha256", to_hex(device_key().public_key_sha256())}};
}

std::string rules_of(const std::vector<Violation>& found) {
  std::string text;
  for (const Violation& violation : found) text += (text.empty() ? "" : " ") + violation.rule;
  return text;
}

std::vector<Violation> check(const json& expect, const LogEntry& entry) {
  AccountMonitor monitor(AccountExpectation::parse(expect, "alice"));
  return monitor.check(7, entry.to_bytes());
}

}  // namespace

TEST_CASE("monitor: the owner's known devices pass and other accounts are ignored", "[unit]") {
  AccountMonitor monitor(AccountExpectation::parse({{"account", "alice"}, {"devices", {phone_expected()}}}, "alice"));
  CHECK(monitor.check(1, LogEntry{example_device_enrolled()}.to_bytes()).empty());
  CHECK(monitor.check(2, LogEntry{example_prekeys_signed_full()}.to_bytes()).empty());
  DeviceEnrolled bob = example_device_enrolled();
  bob.account = "bob";
  bob.device = "ghost";
  CHECK(monitor.check(3, LogEntry{bob}.to_bytes()).empty());
  CHECK(monitor.check(4, LogEntry{example_hsm_inventory()}.to_bytes()).empty());
  CHECK(monitor.entries_about_account() == 2);
}

TEST_CASE("monitor: a ghost device and a substituted key are reported", "[unit]") {
  DeviceEnrolled ghost = example_device_enrolled();
  ghost.device = "ghost";
  auto found = check({{"devices", {phone_expected()}}}, LogEntry{ghost});
  REQUIRE(rules_of(found) == "ghost_device");
  CHECK(found[0].index == 7u);
  CHECK_THAT(found[0].message, Catch::Contains("device alice/ghost was enrolled (by admin"));

  PrekeysSigned ghost_prekeys = example_prekeys_signed();
  ghost_prekeys.device = "ghost";
  CHECK(rules_of(check({{"devices", {phone_expected()}}}, LogEntry{ghost_prekeys})) == "ghost_device");

  json other_key = phone_expected();
  other_key["identity_key_sha256"] = to_hex(log_key().public_key_sha256());
  CHECK(rules_of(check({{"devices", {other_key}}}, LogEntry{example_device_enrolled()})) == "unexpected_key");
  CHECK(rules_of(check({{"devices", {other_key}}}, LogEntry{example_prekeys_signed()})) == "unexpected_key");
}

TEST_CASE("monitor: prekeys and batches the device never uploaded", "[unit]") {
  const PrekeysSigned entry = example_prekeys_signed_full();
  json known = phone_expected();
  known["prekeys"] = {to_hex(sha256(entry.signed_prekey->public_key)), to_hex(sha256(entry.pq_last_resort_prekey->public_key))};
  known["batch_roots"] = {to_base64(entry.one_time_prekeys->root), to_base64(entry.pq_one_time_prekeys->root)};
  CHECK(check({{"devices", {known}}}, LogEntry{entry}).empty());

  json missing = known;
  missing["prekeys"] = {to_hex(sha256(entry.signed_prekey->public_key))};
  missing["batch_roots"] = {to_base64(entry.one_time_prekeys->root)};
  const auto found = check({{"devices", {missing}}}, LogEntry{entry});
  REQUIRE(rules_of(found) == "unexpected_prekeys unexpected_prekeys");
  CHECK_THAT(found[0].message, Catch::Contains("last-resort prekey 4294967295 of device alice/phone"));
  CHECK_THAT(found[1].message, Catch::Contains("batch of 20 one-time prekeys"));
}

TEST_CASE("monitor: revocations must be expected", "[unit]") {
  CHECK(rules_of(check({{"devices", {phone_expected()}}}, LogEntry{example_device_revoked()})) == "unexpected_revocation");
  json revoked = phone_expected();
  revoked["revoked"] = true;
  CHECK(check({{"devices", {revoked}}}, LogEntry{example_device_revoked()}).empty());
}

TEST_CASE("monitor: the expect file is read strictly", "[unit]") {
  const auto bad = [](const json& expect) {
    CHECK_THROWS_MATCHES(AccountExpectation::parse(expect, "alice"), Error, IsInvalidInput());
  };
  bad(json::array());
  bad({{"account", "bob"}, {"devices", json::array()}});
  bad({{"devices", json::array()}, {"extra", 1}});
  bad(json::object());
  bad({{"devices", {{{"device", "phone"}}}}});
  bad({{"devices", {{{"device", "phone"}, {"identity_key_sha256", "abcd"}}}}});
  bad({{"devices", {phone_expected(), phone_expected()}}});
  json unknown = phone_expected();
  unknown["colour"] = "blue";
  bad({{"devices", {unknown}}});
  json bad_root = phone_expected();
  bad_root["batch_roots"] = {"not base64"};
  bad({{"devices", {bad_root}}});
  CHECK_THROWS_MATCHES(AccountExpectation::parse({{"devices", json::array()}}, "not an id!"), Error, IsInvalidInput());
  CHECK(AccountExpectation::parse({{"devices", json::array()}}, "alice").devices.empty());
}
