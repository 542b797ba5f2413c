#include "keyservice/reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "audit/encoding.h"
#include "audit/log_entry.h"
#include "keyservice/credentials.h"
#include "keyservice/error.h"
#include "pkcs11/inventory.h"

namespace escrowless::keyservice {
namespace {

constexpr std::uint64_t kPage = 1000;

struct Logged {
  std::uint64_t index = 0;
  audit::EntryTime time;
};

// What the entries read say about devices, by "account/device".
struct Findings {
  std::map<std::string, std::pair<Logged, audit::DeviceEnrolled>> enrolled;
  std::map<std::string, std::pair<Logged, audit::DeviceRevoked>> revoked;
};

std::string name_of(std::string_view account, std::string_view device) {
  return std::string(account) + "/" + std::string(device);
}

// Only device.enrolled and device.revoked matter here; the others (inventories above all) are
// skipped before parsing. A false match is harmless: it is parsed and its type checked.
bool may_be_device_entry(std::string_view entry) {
  return entry.find("\"device.enrolled\"") != std::string_view::npos ||
         entry.find("\"device.revoked\"") != std::string_view::npos;
}

Findings read_device_entries(TransparencyLog& log, std::uint64_t from, std::uint64_t to) {
  Findings found;
  for (std::uint64_t start = from; start < to; start += kPage) {
    const std::vector<std::string> entries = log.entries(start, std::min(kPage, to - start));
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (!may_be_device_entry(entries[i])) continue;
      const std::uint64_t index = start + i;
      const audit::LogEntry entry = audit::parse_entry(entries[i]);
      if (const auto* enrolled = std::get_if<audit::DeviceEnrolled>(&entry.body)) {
        found.enrolled.insert_or_assign(name_of(enrolled->account, enrolled->device),
                                        std::pair{Logged{index, enrolled->time}, *enrolled});
      } else if (const auto* revoked = std::get_if<audit::DeviceRevoked>(&entry.body)) {
        // The first revocation counts (a second would be an auditor's finding, not ours to undo).
        found.revoked.try_emplace(name_of(revoked->account, revoked->device),
                                  std::pair{Logged{index, revoked->time}, *revoked});
      }
    }
  }
  return found;
}

Device device_of(const Logged& at, const audit::DeviceEnrolled& entry) {
  Device device;
  device.account = entry.account;
  device.device = entry.device;
  device.algorithm = entry.identity_key.algorithm;
  device.token_key_id = entry.identity_key.key_id;
  device.public_key = entry.identity_key.public_key;
  device.public_key_sha256 = entry.identity_key.public_key_sha256();
  device.enrolled_index = at.index;
  device.enrolled_time = at.time;
  return device;
}

std::string count_of(std::size_t n, const char* what) { return std::to_string(n) + " " + what; }

}  // namespace

Revocation withdraw_enrollment(TransparencyLog& log, DeviceStore& store, DeviceKeys& keys, const Device& device,
                               std::optional<Revocation> logged) {
  if (!logged) {
    // Logged first: a crash before the store has it leaves a logged revocation that
    // reconciliation applies, never a stored active device nobody owns.
    const audit::DeviceRevoked entry{audit::to_entry_time(std::chrono::system_clock::now()), device.account,
                                     device.device, device.public_key_sha256, audit::Actor::admin()};
    const std::vector<std::uint8_t> bytes = entry.to_bytes();
    try {
      logged = Revocation{log.append(std::string(bytes.begin(), bytes.end())).get().index, entry.time};
    } catch (const UnsignedEntry& stored) {
      logged = Revocation{stored.index(), entry.time};  // in the log for good; signed later
    }
  }
  keys.destroy(device);
  store.add_device(device, credential_hash(new_credential().bytes()));  // a credential nobody ever sees
  store.revoke_device(device.account, device.device, *logged);
  return *logged;
}

ReconcileReport Reconciler::reconcile(bool sweep_token) {
  const auto whole_token = keys_.hold_lifecycle();
  ReconcileReport report;
  report.from = store_.reconciled_log_size();
  report.to = log_.size();
  if (report.from > report.to) {
    throw Error(ErrorKind::integrity, "devices.db was reconciled with a log of " + std::to_string(report.from) +
                                          " entries but the log has " + std::to_string(report.to) +
                                          ": is it this log's devices database?");
  }
  // At start-up only: a scan of every device row, too much to repeat every minute.
  if (const std::uint64_t needed = sweep_token ? store_.log_size_needed() : 0; needed > report.to) {
    throw Error(ErrorKind::integrity, "devices.db names log entry " + std::to_string(needed - 1) +
                                          " but the log has " + std::to_string(report.to) +
                                          " signed entries: is it this log's devices database?");
  }

  // First find everything to repair, then check the guard rails, then change things.
  Findings found = read_device_entries(log_, report.from, report.to);
  std::vector<std::pair<Device, std::optional<Revocation>>> withdraw;  // logged, not stored
  std::vector<std::pair<Device, Revocation>> revoke;                  // logged revoked, stored active
  for (const auto& [name, logged] : found.enrolled) {
    if (store_.find_device(logged.second.account, logged.second.device)) continue;
    std::optional<Revocation> revocation;
    if (const auto r = found.revoked.find(name); r != found.revoked.end()) {
      revocation = Revocation{r->second.first.index, r->second.first.time};
    }
    withdraw.emplace_back(device_of(logged.first, logged.second), revocation);
  }
  for (const auto& [name, logged] : found.revoked) {
    const std::optional<Device> device = store_.find_device(logged.second.account, logged.second.device);
    if (device && device->is_active()) {
      revoke.emplace_back(*device, Revocation{logged.first.index, logged.first.time});
    }
  }
  if (withdraw.size() > max_repairs_) {
    throw Error(ErrorKind::integrity, "devices.db lacks " + count_of(withdraw.size(), "devices") +
                                          " the log enrolled (the first at entry " +
                                          std::to_string(withdraw.front().first.enrolled_index) +
                                          "): is it this log's devices database? Nothing was changed");
  }

  for (const auto& [device, revocation] : revoke) {
    const auto device_lock = keys_.lock(device.account, device.device);
    spdlog::warn("device {}/{}: applying its revocation logged at {}, which the store had missed", device.account,
                 device.device, revocation.log_index);
    store_.revoke_device(device.account, device.device, revocation);
    if (keys_.destroy(device)) ++report.keys_destroyed;
    ++report.revocations_applied;
  }

  for (const auto& [device, logged_revocation] : withdraw) {
    spdlog::warn("device {}/{}: enrolled at {} but never stored (nobody got its credential); storing it revoked",
                 device.account, device.device, device.enrolled_index);
    withdraw_enrollment(log_, store_, keys_, device, logged_revocation);
    ++report.enrollments_withdrawn;
  }

  if (sweep_token) report.keys_destroyed += sweep();
  store_.set_reconciled_log_size(report.to);
  if (report.repairs() > 0) {
    spdlog::warn("reconciled with log entries [{}, {}): {} applied, {} withdrawn, {} destroyed", report.from,
                 report.to, count_of(report.revocations_applied, "revocations"),
                 count_of(report.enrollments_withdrawn, "enrollments"), count_of(report.keys_destroyed, "keys"));
  }
  return report;
}

// What the sweep destroys: the key objects (both halves) of device keys no active device holds,
// and half-made keys. Every key this service makes has a CKA_ID and a CKA_LABEL; SoftHSM's file
// store, killed inside C_GenerateKeyPair, leaves a key object with neither (and with SoftHSM's
// default flags: able to decrypt and unwrap, not sensitive), which nothing could find or use.
Reconciler::Verdict Reconciler::judge(const pkcs11::ObjectAttributes& object) {
  if (object.id.empty() && object.label.empty()) return Verdict::unknown;
  if (!object.label.starts_with("device:")) return Verdict::keep;  // the log key, or not ours
  const auto names = parse_device_key_label(object.label);
  const std::optional<Device> device = names ? store_.find_device(names->first, names->second) : std::nullopt;
  if (!device) return Verdict::unknown;
  return device->is_active() && device->token_key_id == object.id ? Verdict::keep : Verdict::stale;
}

std::size_t Reconciler::sweep() {
  if (const std::size_t broken = pkcs11::destroy_unreadable_objects(token_.pool(), max_repairs_); broken > 0) {
    spdlog::warn("destroyed {}: objects whose class the token could not read (left by a crash)",
                 count_of(broken, "broken objects"));
  }
  std::size_t unknown = 0;
  for (const pkcs11::InventoryItem& item : pkcs11::take_inventory(token_.pool())) {
    if (item.attributes.object_class == CKO_PRIVATE_KEY && judge(item.attributes) == Verdict::unknown) ++unknown;
  }
  if (unknown > max_repairs_) {
    throw Error(ErrorKind::integrity, "the token holds " + count_of(unknown, "private keys") +
                                          " of devices devices.db does not know, or half made: is it this "
                                          "token's devices database? Nothing was destroyed");
  }
  std::size_t destroyed = 0;
  const auto gone = pkcs11::destroy_keys_if(
      token_.pool(), [this](const pkcs11::ObjectAttributes& object) { return judge(object) != Verdict::keep; });
  for (const pkcs11::ObjectAttributes& object : gone) {
    spdlog::warn("destroyed {} {} (id {}): no active device holds it", pkcs11::object_class_name(object.object_class),
                 object.label.empty() ? "without a label" : "'" + object.label + "'",
                 object.id.empty() ? "none" : audit::hex_encode(object.id));
    if (object.object_class == CKO_PRIVATE_KEY) ++destroyed;
  }
  return destroyed;
}

}  // namespace escrowless::keyservice
