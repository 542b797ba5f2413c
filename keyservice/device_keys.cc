#include "keyservice/device_keys.h"

#include <functional>
#include <string>

#include "audit/encoding.h"
#include "audit/entry_ids.h"
#include "keyservice/error.h"

namespace escrowless::keyservice {
namespace {

constexpr std::string_view kLabelPrefix = "device:";

// The cache's key: the device key's CKA_ID.
std::string id_of(const Device& device) { return std::string(device.token_key_id.begin(), device.token_key_id.end()); }

}  // namespace

std::string device_key_label(std::string_view account, std::string_view device) {
  return std::string(kLabelPrefix) + std::string(account) + "/" + std::string(device);
}

std::optional<std::pair<std::string, std::string>> parse_device_key_label(std::string_view label) {
  if (!label.starts_with(kLabelPrefix)) return std::nullopt;
  label.remove_prefix(kLabelPrefix.size());
  const std::size_t slash = label.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string account(label.substr(0, slash));
  std::string device(label.substr(slash + 1));
  if (!audit::is_valid_id(account) || !audit::is_valid_id(device)) return std::nullopt;
  return std::pair{std::move(account), std::move(device)};
}

pkcs11::KeyPair DeviceKeys::identity_key(const Device& device) {
  {
    const std::lock_guard guard(cache_mutex_);
    if (const auto found = cache_.find(id_of(device)); found != cache_.end()) return found->second;
  }
  // Looked up outside the cache lock: concurrent first uses of one key find it twice, harmlessly.
  std::optional<pkcs11::KeyPair> key;
  try {
    key = pkcs11::find_key_pair_by_id(token_.pool(), device.token_key_id);
  } catch (const pkcs11::Error& e) {
    // Someone made a second private key on this id (a twin posing as the device's key): sign
    // with neither. The message is the server log's line; the client gets 409 device-key-ambiguous.
    if (e.kind() != pkcs11::ErrorKind::ambiguous_key) throw;
    throw pkcs11::Error(pkcs11::ErrorKind::ambiguous_key,
                        "device " + device.account + "/" + device.device + " (CKA_ID " +
                            audit::hex_encode(device.token_key_id) + "): " + e.what() +
                            "; refusing to use either until an operator removes the one that is not the "
                            "device's key (keyaudit verify names it)");
  }
  if (!key) throw Error(ErrorKind::unavailable, "the device's identity key is not on the token");
  if (key->public_key.raw != device.public_key) {
    throw Error(ErrorKind::integrity, "the token key of " + device.account + "/" + device.device +
                                          " is not the identity key it enrolled with");
  }
  const std::lock_guard guard(cache_mutex_);
  return cache_.try_emplace(id_of(device), std::move(*key)).first->second;
}

void DeviceKeys::remember(const Device& device, const pkcs11::KeyPair& key) {
  const std::lock_guard guard(cache_mutex_);
  cache_.insert_or_assign(id_of(device), key);
}

void DeviceKeys::forget(const Device& device) {
  const std::lock_guard guard(cache_mutex_);
  cache_.erase(id_of(device));
}

bool DeviceKeys::destroy(const Device& device) {
  // The cached key (checked against the device's public key when it was found or made) saves
  // two searches over the whole token (bench/token_scale).
  std::optional<pkcs11::KeyPair> key;
  {
    const std::lock_guard guard(cache_mutex_);
    if (const auto found = cache_.find(id_of(device)); found != cache_.end()) {
      key = std::move(found->second);
      cache_.erase(found);
    }
  }
  bool current = false;
  if (key) {
    const std::lock_guard handles_guard(key->handles->mutex);
    current = key->handles->login_count == token_.pool().login_count() &&
              key->handles->private_handle != CK_INVALID_HANDLE;
  }
  // Handles of this login name the very objects that were checked; after a new login they must be
  // found again, by the search below, which checks the public key.
  if (current) {
    try {
      pkcs11::destroy_key_pair(token_.pool(), *key);
      return true;
    } catch (const pkcs11::Error& e) {
      if (e.kind() != pkcs11::ErrorKind::not_found) throw;
      return false;  // gone already (destroyed by a reconciliation or an earlier attempt)
    }
  }
  key = pkcs11::find_key_pair_by_id(token_.pool(), device.token_key_id);
  if (!key) return false;
  if (key->public_key.raw != device.public_key) {
    throw Error(ErrorKind::integrity, "the token key under the CKA_ID of " + device.account + "/" + device.device +
                                          " is not its identity key: left in place");
  }
  pkcs11::destroy_key_pair(token_.pool(), *key);
  return true;
}

std::unique_lock<std::mutex> DeviceKeys::lock(std::string_view account, std::string_view device) {
  const std::size_t hash = std::hash<std::string_view>{}(account) * 31 + std::hash<std::string_view>{}(device);
  return std::unique_lock(device_mutexes_[hash % device_mutexes_.size()]);
}

}  // namespace escrowless::keyservice
