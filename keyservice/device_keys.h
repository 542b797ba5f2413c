// The identity keys of enrolled devices as the service uses them: found in the token once and
// kept (a lookup by CKA_ID walks every object of the token, tens of milliseconds at a thousand
// devices); a lock per device that orders the writes about one device (prekey uploads,
// revocation) so that the store receives them in the order the log does; and the lifecycle lock
// that keeps whole-token views (inventories, reconciliation) from seeing a key half way between
// the token and the log.
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "keyservice/store/device_store.h"
#include "pkcs11/keys.h"
#include "pkcs11/token.h"

namespace escrowless::keyservice {

// A device's identity key is labelled "device:<account>/<device>" in the token (ids never hold
// '/'); the label only helps people and the start-up sweep, lookups go by CKA_ID.
std::string device_key_label(std::string_view account, std::string_view device);
// The account and device a label names; nullopt if it is not a device key label.
std::optional<std::pair<std::string, std::string>> parse_device_key_label(std::string_view label);

class DeviceKeys {
 public:
  explicit DeviceKeys(pkcs11::Token& token) : token_(token) {}

  // The device's identity key pair in the token. Error(unavailable) when the token does not hold
  // it; Error(integrity) when the key under its CKA_ID is not the public key enrolled and logged.
  pkcs11::KeyPair identity_key(const Device& device);

  // Keeps a key just generated for `device`, so its first use needs no lookup.
  void remember(const Device& device, const pkcs11::KeyPair& key);

  // Drops the cached key (before it is destroyed in the token).
  void forget(const Device& device);

  // Forgets the device's key and destroys it in the token; false if the token does not hold it,
  // Error(integrity) (and nothing destroyed) if the key under its CKA_ID is another one.
  bool destroy(const Device& device);

  // Held for the whole of a write about one device. Devices hash onto a fixed set of mutexes, so
  // two devices rarely wait for each other and the set never grows.
  std::unique_lock<std::mutex> lock(std::string_view account, std::string_view device);

  // Shared by every operation that creates or destroys a device key and logs it (enrollment,
  // revocation), from before the key is made until log, store and token agree again; held alone
  // by whatever must see them agree (an inventory, reconciliation). Taken before lock().
  std::shared_lock<std::shared_mutex> share_lifecycle() { return std::shared_lock(lifecycle_); }
  std::unique_lock<std::shared_mutex> hold_lifecycle() { return std::unique_lock(lifecycle_); }

 private:
  pkcs11::Token& token_;
  std::mutex cache_mutex_;
  // By CKA_ID, its bytes as a string: GCC 12 at -O3 warns falsely (-Wstringop-overread) on the
  // memcmp that ordering std::vector<std::uint8_t> keys inlines.
  std::map<std::string, pkcs11::KeyPair> cache_;
  std::array<std::mutex, 64> device_mutexes_;
  std::shared_mutex lifecycle_;
};

}  // namespace escrowless::keyservice
