#include "audit/account_monitor.h"

#include <optional>

#include "audit/encoding.h"
#include "audit/entry_ids.h"
#include "audit/error.h"

namespace escrowless::audit {
namespace {

Hash hex_hash(const nlohmann::json& value, const std::string& what) {
  if (!value.is_string()) throw invalid_input(what + " must be a string of 64 hex digits");
  return hash_from_bytes(hex_decode(value.get<std::string>()), what);
}

std::set<Hash> hash_set(const nlohmann::json& list, const std::string& what, bool base64) {
  if (!list.is_array()) throw invalid_input(what + " must be an array");
  std::set<Hash> hashes;
  for (const nlohmann::json& item : list) {
    if (base64) {
      if (!item.is_string()) throw invalid_input(what + " holds a value that is not a base64 string");
      hashes.insert(hash_from_base64(item.get<std::string>(), what));
    } else {
      hashes.insert(hex_hash(item, what));
    }
  }
  return hashes;
}

std::string short_hex(const Hash& hash) { return to_hex(hash).substr(0, 16); }

}  // namespace

AccountExpectation AccountExpectation::parse(const nlohmann::json& json, const std::string& account) {
  if (!is_valid_id(account)) throw invalid_input("account '" + account + "' is not a valid account id");
  if (!json.is_object()) throw invalid_input("the expect file must hold a JSON object");
  AccountExpectation expectation;
  expectation.account = account;
  for (const auto& [key, value] : json.items()) {
    if (key == "account") {
      if (!value.is_string() || value.get<std::string>() != account)
        throw invalid_input("the expect file is for account " + value.dump() + ", not '" + account + "'");
    } else if (key != "devices") {
      throw invalid_input("the expect file has an unknown member '" + key + "'");
    }
  }
  if (!json.contains("devices") || !json["devices"].is_array())
    throw invalid_input("the expect file needs a \"devices\" array");
  for (const nlohmann::json& item : json["devices"]) {
    if (!item.is_object()) throw invalid_input("each device in the expect file must be an object");
    if (!item.contains("device") || !item["device"].is_string() || !is_valid_id(item["device"].get<std::string>()))
      throw invalid_input("a device in the expect file has no valid \"device\" id");
    const std::string id = item["device"].get<std::string>();
    const std::string where = "device " + id + ": ";
    ExpectedDevice device;
    if (!item.contains("identity_key_sha256")) throw invalid_input(where + "\"identity_key_sha256\" is missing");
    for (const auto& [key, value] : item.items()) {
      if (key == "device") continue;
      if (key == "identity_key_sha256") {
        device.identity_key_sha256 = hex_hash(value, where + "identity_key_sha256");
      } else if (key == "revoked") {
        if (!value.is_boolean()) throw invalid_input(where + "\"revoked\" must be true or false");
        device.revoked = value.get<bool>();
      } else if (key == "prekeys") {
        device.prekeys = hash_set(value, where + "prekeys", false);
      } else if (key == "batch_roots") {
        device.batch_roots = hash_set(value, where + "batch_roots", true);
      } else {
        throw invalid_input(where + "unknown member '" + key + "'");
      }
    }
    if (!expectation.devices.emplace(id, std::move(device)).second)
      throw invalid_input("device " + id + " is listed twice in the expect file");
  }
  return expectation;
}

std::vector<Violation> AccountMonitor::check(uint64_t index, std::span<const uint8_t> bytes) {
  std::optional<LogEntry> entry;
  try {
    entry.emplace(parse_entry(bytes));
  } catch (const Error& e) {
    return {{index, "schema", std::string("the entry is not a valid log entry (it could be about the account): ") + e.what()}};
  }
  return check(index, *entry);
}

std::vector<Violation> AccountMonitor::check(uint64_t index, const LogEntry& entry) {
  std::vector<Violation> found;
  const auto flag = [&](const char* rule, std::string message) { found.push_back({index, rule, std::move(message)}); };
  const std::string& account = expect_.account;
  const auto expected = [&](const std::string& device) -> const ExpectedDevice* {
    const auto it = expect_.devices.find(device);
    return it == expect_.devices.end() ? nullptr : &it->second;
  };

  if (const auto* enrolled = std::get_if<DeviceEnrolled>(&entry.body)) {
    if (enrolled->account != account) return found;
    ++about_account_;
    const std::string name = account + "/" + enrolled->device;
    const Hash key = enrolled->identity_key.public_key_sha256();
    const ExpectedDevice* device = expected(enrolled->device);
    if (device == nullptr) {
      flag("ghost_device", "device " + name + " was enrolled (by " + enrolled->enrolled_by.to_string() + ", identity key " +
                               short_hex(key) + ") but is not in the expect file: a device the owner does not know");
    } else if (key != device->identity_key_sha256) {
      flag("unexpected_key", "device " + name + " was enrolled with identity key " + short_hex(key) +
                                 ", not the expected " + short_hex(device->identity_key_sha256));
    }
  } else if (const auto* prekeys = std::get_if<PrekeysSigned>(&entry.body)) {
    if (prekeys->account != account) return found;
    ++about_account_;
    const std::string name = account + "/" + prekeys->device;
    const ExpectedDevice* device = expected(prekeys->device);
    if (device == nullptr) {
      flag("ghost_device", "prekeys were signed for device " + name + ", which is not in the expect file");
      return found;
    }
    if (prekeys->identity_key_sha256 != device->identity_key_sha256) {
      flag("unexpected_key", "prekeys for device " + name + " were signed by identity key " +
                                 short_hex(prekeys->identity_key_sha256) + ", not the expected " +
                                 short_hex(device->identity_key_sha256));
    }
    if (device->prekeys) {
      for (const auto* prekey : {&prekeys->signed_prekey, &prekeys->pq_last_resort_prekey}) {
        if (!*prekey) continue;
        const Hash hash = sha256((*prekey)->public_key);
        if (!device->prekeys->contains(hash)) {
          flag("unexpected_prekeys", std::string(prekey == &prekeys->signed_prekey ? "signed prekey" : "last-resort prekey") +
                                         " " + std::to_string((*prekey)->key_id) + " of device " + name + " (SHA-256 " +
                                         short_hex(hash) + ") is not one the device uploaded");
        }
      }
    }
    if (device->batch_roots) {
      for (const auto* batch : {&prekeys->one_time_prekeys, &prekeys->pq_one_time_prekeys}) {
        if (*batch && !device->batch_roots->contains((*batch)->root)) {
          flag("unexpected_prekeys", "a batch of " + std::to_string((*batch)->count) + " one-time prekeys of device " + name +
                                         " (root " + to_base64((*batch)->root) + ") is not one the device uploaded");
        }
      }
    }
  } else if (const auto* revoked = std::get_if<DeviceRevoked>(&entry.body)) {
    if (revoked->account != account) return found;
    ++about_account_;
    const ExpectedDevice* device = expected(revoked->device);
    if (device == nullptr || !device->revoked) {
      flag("unexpected_revocation", "device " + account + "/" + revoked->device + " was revoked (by " +
                                        revoked->revoked_by.to_string() + "), which the expect file does not list as revoked");
    }
  }
  return found;
}

}  // namespace escrowless::audit
