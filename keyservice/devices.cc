#include "keyservice/devices.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "audit/encoding.h"
#include "audit/log_entry.h"
#include "keyservice/credentials.h"
#include "keyservice/error.h"
#include "keyservice/log/token_entries.h"
#include "keyservice/reconciler.h"

namespace escrowless::keyservice {
namespace {

std::string new_device_id() {
  std::array<std::uint8_t, 8> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw Error(ErrorKind::internal, "RAND_bytes failed");
  }
  return audit::hex_encode(bytes);
}

audit::EntryTime now() { return audit::to_entry_time(std::chrono::system_clock::now()); }

Receipt append(TransparencyLog& log, const std::vector<std::uint8_t>& entry) {
  return log.append(std::string(entry.begin(), entry.end())).get();
}

}  // namespace

Enrollment Devices::enroll(std::string_view account, const audit::Actor& by) {
  check_id("account", account);
  const auto key_lifecycle = keys_.share_lifecycle();
  const std::string device_id = new_device_id();
  const pkcs11::Algorithm algorithm = pkcs11::choose_algorithm(token_.mechanisms());
  // A random id and a label naming the new device id: nothing on the token can share them, so no
  // search over the token (which grows with it) precedes the generation.
  const pkcs11::KeyPair key = pkcs11::generate_key_pair(token_.pool(), algorithm, pkcs11::random_key_id(),
                                                        device_key_label(account, device_id),
                                                        pkcs11::KeyUniqueness::guaranteed_by_caller);
  audit::DeviceEnrolled entry;
  entry.time = now();
  entry.account = std::string(account);
  entry.device = device_id;
  entry.enrolled_by = by;
  Device device;
  device.account = entry.account;
  device.device = device_id;
  device.token_key_id = key.id;
  device.public_key = key.public_key.raw;
  device.enrolled_time = entry.time;
  Receipt receipt;
  try {
    entry.identity_key = read_token_key(token_.pool(), key);
    receipt = append(log_, entry.to_bytes());
  } catch (const UnsignedEntry& stored) {
    // The entry is in the log for good (the next signed checkpoint covers it) though the caller
    // hears 503 and gets no credential: keep the store in step, with the device withdrawn at once.
    device.algorithm = entry.identity_key.algorithm;
    device.public_key_sha256 = entry.identity_key.public_key_sha256();
    device.enrolled_index = stored.index();
    withdraw(device, "its checkpoint is not signed yet");
    throw;
  } catch (...) {
    // Nothing was logged: the key must not stay in the token unaccounted for.
    try {
      pkcs11::destroy_key_pair(token_.pool(), key);
    } catch (const std::exception& e) {
      spdlog::error("enrollment failed and its key {} could not be destroyed: {}",
                    audit::hex_encode(key.id), e.what());
    }
    throw;
  }

  device.algorithm = entry.identity_key.algorithm;
  device.public_key_sha256 = entry.identity_key.public_key_sha256();
  device.enrolled_index = receipt.index;
  pkcs11::Secret credential = new_credential();
  try {
    store_.add_device(device, credential_hash(credential.bytes()));
  } catch (const std::exception& e) {
    withdraw(device, std::string("storing it failed: ") + e.what());
    throw;
  }
  keys_.remember(device, key);
  return Enrollment{std::move(device), std::move(credential), std::move(receipt)};
}

void Devices::withdraw(const Device& device, const std::string& why) {
  spdlog::error("device {}/{} is logged at {} but its enrollment failed ({}); withdrawing it", device.account,
                device.device, device.enrolled_index, why);
  try {
    withdraw_enrollment(log_, store_, keys_, device, std::nullopt);
  } catch (const std::exception& e) {
    // Reconciliation finishes what is missing, at the latest when the service starts again.
    spdlog::error("device {}/{}: withdrawing the failed enrollment stopped half way: {}", device.account,
                  device.device, e.what());
  }
}

std::vector<Device> Devices::list(std::string_view account) { return store_.list_devices(account); }

std::optional<Device> Devices::authenticate(std::string_view credential) {
  const audit::Hash hash = credential_hash(credential);
  return store_.find_device_by_credential(hash);
}

Receipt Devices::revoke(std::string_view account, std::string_view device_id, const audit::Actor& by) {
  const auto key_lifecycle = keys_.share_lifecycle();
  // Waits for an upload of this device in flight, so its prekeys.signed entry precedes the
  // revocation in the log and in the store alike.
  const auto device_lock = keys_.lock(account, device_id);
  const std::optional<Device> device = store_.find_device(account, device_id);
  if (!device) throw Error(ErrorKind::not_found, "no device " + std::string(device_id) + " in this account");
  if (!device->is_active()) throw Error(ErrorKind::conflict, "the device is revoked already");

  const audit::DeviceRevoked entry{now(), device->account, device->device, device->public_key_sha256, by};
  Receipt receipt;
  try {
    receipt = append(log_, entry.to_bytes());
  } catch (const UnsignedEntry& stored) {
    // Logged for good though not acknowledged: the revocation takes effect now, as the log says;
    // a retry by the caller then finds the device revoked (409).
    store_.revoke_device(account, device_id, Revocation{stored.index(), entry.time});
    destroy_revoked_key(*device);
    throw;
  }
  store_.revoke_device(account, device_id, Revocation{receipt.index, entry.time});
  destroy_revoked_key(*device);
  return receipt;
}

// The revocation is logged and in force; destroying the key is the last step. If it fails, the
// next inventory shows the key of a revoked device, which auditors flag.
void Devices::destroy_revoked_key(const Device& device) {
  try {
    keys_.destroy(device);
  } catch (const std::exception& e) {
    spdlog::error("device {}/{} revoked but its key could not be destroyed: {}", device.account,
                  device.device, e.what());
  }
}

Receipt Devices::log_inventory() {
  const auto whole_token = keys_.hold_lifecycle();  // also one inventory at a time: parts stay in order
  std::vector<std::future<Receipt>> parts = append_inventory(log_, token_);
  std::vector<Receipt> receipts;
  for (auto& part : parts) receipts.push_back(part.get());
  return receipts.front();
}

}  // namespace escrowless::keyservice
