// The device domain: enrolling a device (its identity key generated in the token, the
// `device.enrolled` entry logged with the key's attributes as the token reports them, a new
// bearer credential), listing an account's devices, and revoking one (logged, credential
// invalidated, key destroyed in the token). Knows nothing of HTTP.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "audit/entry_ids.h"
#include "keyservice/log/sequencer.h"
#include "keyservice/log/transparency_log.h"
#include "keyservice/device_keys.h"
#include "keyservice/store/device_store.h"
#include "pkcs11/secret.h"
#include "pkcs11/token.h"

namespace escrowless::keyservice {

struct Enrollment {
  Device device;
  pkcs11::Secret credential;  // shown to the enrolling client once, never stored
  Receipt receipt;            // the device.enrolled entry's place in the log
};

class Devices {
 public:
  Devices(pkcs11::Token& token, TransparencyLog& log, DeviceStore& store, DeviceKeys& keys)
      : token_(token), log_(log), store_(store), keys_(keys) {}

  // A new device of `account` with a server-chosen id (16 hex characters). The entry is durable
  // and signed before the device exists in the store. If storing then fails, or the entry was
  // stored but its checkpoint could not be signed (UnsignedEntry, the token went away), the
  // device is withdrawn (withdraw_enrollment: a device.revoked entry follows, the key is
  // destroyed, the device stored revoked): the caller, who gets the error and no credential,
  // never has a device, and the log never shows a usable device the service does not know.
  // What a crash leaves half done, Reconciler finishes.
  Enrollment enroll(std::string_view account, const audit::Actor& by);

  // The account's devices (active and revoked), in enrollment order.
  std::vector<Device> list(std::string_view account);

  // The active device that holds this credential, or nullopt (unknown or revoked).
  std::optional<Device> authenticate(std::string_view credential);

  // Logs device.revoked, invalidates the credential and the prekeys, destroys the key in the
  // token. Error(not_found) for no such device, Error(conflict) if already revoked. On
  // UnsignedEntry the revocation is in force all the same (it is in the log for good).
  Receipt revoke(std::string_view account, std::string_view device, const audit::Actor& by);

  // Logs an hsm.inventory of the whole token, taken while no enrollment or revocation is half
  // way (so it never lists a key made but not yet logged, or revoked but not yet destroyed).
  Receipt log_inventory();

 private:
  void withdraw(const Device& device, const std::string& why);
  void destroy_revoked_key(const Device& device);

  pkcs11::Token& token_;
  TransparencyLog& log_;
  DeviceStore& store_;
  DeviceKeys& keys_;
};

}  // namespace escrowless::keyservice
