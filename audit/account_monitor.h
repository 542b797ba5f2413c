// The account owner's check (keyaudit monitor): every log entry about one account must be one
// the owner expects. The owner lists its devices, their identity keys and, optionally, the
// prekeys they uploaded (docs/auditor-guide.md, "The expect file"); an enrollment of any other
// device is a ghost device, a prekey entry the device never uploaded is reported too. Pure.
//
// Rules, by the Violation's rule name:
//   ghost_device           a device.enrolled (or prekeys.signed) for a device not in the list
//   unexpected_key         a listed device enrolled with, or signed by, another identity key
//   unexpected_prekeys     a prekey or one-time batch root the device's list does not hold
//   unexpected_revocation  a device.revoked for a device not listed as revoked
//   schema                 an entry that does not parse (it could be about the account)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/hash.h"
#include "audit/log_entry.h"
#include "audit/violation.h"

namespace escrowless::audit {

struct ExpectedDevice {
  Hash identity_key_sha256{};
  bool revoked = false;                       // the owner revoked it: its device.revoked is expected
  std::optional<std::set<Hash>> prekeys;      // SHA-256 of each signed / last-resort prekey's public key
  std::optional<std::set<Hash>> batch_roots;  // roots of the one-time prekey batches it uploaded
};

struct AccountExpectation {
  std::string account;
  std::map<std::string, ExpectedDevice> devices;  // by device id

  // Reads the expect file's JSON for `account`:
  //   {"account": "alice" (optional, must then be `account`),
  //    "devices": [{"device": "phone", "identity_key_sha256": "<64 hex>", "revoked": false,
  //                 "prekeys": ["<64 hex>", ...], "batch_roots": ["<base64>", ...]}, ...]}
  // "revoked", "prekeys" and "batch_roots" are optional; without "prekeys" (or "batch_roots")
  // the device's prekeys (or batches) are not checked. Unknown members are refused.
  // Throws invalid_input naming what is wrong.
  static AccountExpectation parse(const nlohmann::json& json, const std::string& account);
};

class AccountMonitor {
 public:
  explicit AccountMonitor(AccountExpectation expectation) : expect_(std::move(expectation)) {}

  // Checks entry `index` (the bytes as logged). Entries about other accounts pass.
  std::vector<Violation> check(uint64_t index, std::span<const uint8_t> bytes);
  std::vector<Violation> check(uint64_t index, const LogEntry& entry);

  // Entries about the account seen so far.
  uint64_t entries_about_account() const noexcept { return about_account_; }

 private:
  AccountExpectation expect_;
  uint64_t about_account_ = 0;
};

}  // namespace escrowless::audit
