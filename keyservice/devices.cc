#include "keyservice/devices.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "audit/encoding.h"
#include "audit/log_entry.h"
#include "keyservice/credentials.h"
#include "keyservice/error.h"
#include "keyservice/log/token_entries.h"

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

std::string key_label(std::string_view account, std::string_view device) {
  return "device:" + std::string(account) + "/" + std::string(device);
}

}  // namespace

Enrollment Devices::enroll(std::string_view account, const audit::Actor& by) {
  check_id("account", account);
  const std::string device_id = new_device_id();
  const pkcs11::Algorithm algorithm = pkcs11::choose_algorithm(token_.mechanisms());
  const pkcs11::KeyPair key = pkcs11::generate_key_pair(token_.pool(), algorithm, pkcs11::random_key_id(),
                                                        key_label(account, device_id));
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
    withdraw_unacknowledged(device, key);
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
    spdlog::error("device {}/{} logged at {} but not stored ({}); logging its revocation",
                  device.account, device_id, receipt.index, e.what());
    audit::DeviceRevoked revoked{now(), device.account, device_id, device.public_key_sha256,
                                 audit::Actor::admin()};
    append(log_, revoked.to_bytes());
    pkcs11::destroy_key_pair(token_.pool(), key);
    throw;
  }
  keys_.remember(device, key);
  return Enrollment{std::move(device), std::move(credential), std::move(receipt)};
}

void Devices::withdraw_unacknowledged(const Device& device, const pkcs11::KeyPair& key) {
  spdlog::error("device {}/{} is logged at {} but its checkpoint is not signed yet; storing it revoked",
                device.account, device.device, device.enrolled_index);
  try {
    // A credential nobody ever sees: the device is stored only to carry its revocation.
    store_.add_device(device, credential_hash(new_credential().bytes()));
    const audit::DeviceRevoked revoked{now(), device.account, device.device, device.public_key_sha256,
                                       audit::Actor::admin()};
    std::uint64_t index = 0;
    try {
      index = append(log_, revoked.to_bytes()).index;
    } catch (const UnsignedEntry& also) {
      index = also.index();  // stored behind the enrollment; signed together later
    }
    store_.revoke_device(device.account, device.device, Revocation{index, revoked.time});
    pkcs11::destroy_key_pair(token_.pool(), key);
  } catch (const std::exception& e) {
    // Auditors see an enrollment without its revocation, or the key of a revoked device.
    spdlog::error("device {}/{}: withdrawing the unacknowledged enrollment failed: {}", device.account,
                  device.device, e.what());
  }
}

std::vector<Device> Devices::list(std::string_view account) { return store_.list_devices(account); }

std::optional<Device> Devices::authenticate(std::string_view credential) {
  const audit::Hash hash = credential_hash(credential);
  return store_.find_device_by_credential(hash);
}

Receipt Devices::revoke(std::string_view account, std::string_view device_id, const audit::Actor& by) {
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
    const pkcs11::KeyPair key = keys_.identity_key(device);
    keys_.forget(device);
    pkcs11::destroy_key_pair(token_.pool(), key);
  } catch (const std::exception& e) {
    spdlog::error("device {}/{} revoked but its key could not be destroyed: {}", device.account,
                  device.device, e.what());
  }
}

}  // namespace escrowless::keyservice
