// The identity keys of enrolled devices as the service uses them: found in the token once and
// kept (a lookup by CKA_ID walks every object of the token, tens of milliseconds at a thousand
// devices), and a lock per device that orders the writes about one device (prekey uploads,
// revocation) so that the store receives them in the order the log does.
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <string_view>
#include <vector>

#include "keyservice/store/device_store.h"
#include "pkcs11/keys.h"
#include "pkcs11/token.h"

namespace escrowless::keyservice {

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

  // Held for the whole of a write about one device. Devices hash onto a fixed set of mutexes, so
  // two devices rarely wait for each other and the set never grows.
  std::unique_lock<std::mutex> lock(std::string_view account, std::string_view device);

 private:
  pkcs11::Token& token_;
  std::mutex cache_mutex_;
  std::map<std::vector<std::uint8_t>, pkcs11::KeyPair> cache_;  // by CKA_ID
  std::array<std::mutex, 64> device_mutexes_;
};

}  // namespace escrowless::keyservice
