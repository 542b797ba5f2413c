// The key service's working state besides the log: enrolled devices, the hashes of their bearer
// credentials, and their prekeys. The domain writes here after the matching log entry is durable
// (every record carries the index of that entry); HTTP never touches the store.
//
// Conventions of every implementation:
// - Errors are keyservice::Error: invalid_input for malformed arguments (checked before anything
//   is written), not_found for a missing device, conflict for a state that forbids the
//   call, unavailable when the store can't be reached, integrity when stored data is malformed.
//   Messages name accounts, devices, key ids and log indices, never a credential or its hash.
// - Each call is atomic: it happens entirely or not at all, also when it fails.
// - Thread-safe; several stores (also in several processes) may share one backing database.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audit/entry_time.h"
#include "audit/hash.h"
#include "audit/key_algorithm.h"
#include "keyservice/store/prekeys.h"

namespace escrowless::keyservice {

// A `device.revoked` entry.
struct Revocation {
  std::uint64_t log_index = 0;
  audit::EntryTime time;

  friend bool operator==(const Revocation&, const Revocation&) = default;
};

struct Device {
  std::string account;  // audit::is_valid_id
  std::string device;   // audit::is_valid_id
  // The identity key, generated in the token: its algorithm, CKA_ID (1 to 64 bytes), raw public
  // key (32 or 65 bytes) and audit::public_key_sha256(algorithm, public_key).
  audit::KeyAlgorithm algorithm = audit::KeyAlgorithm::ed25519;
  std::vector<std::uint8_t> token_key_id;
  std::vector<std::uint8_t> public_key;
  audit::Hash public_key_sha256{};
  std::uint64_t enrolled_index = 0;  // of its `device.enrolled` entry
  audit::EntryTime enrolled_time;
  std::optional<Revocation> revocation;  // set once revoked

  bool is_active() const noexcept { return !revocation.has_value(); }

  friend bool operator==(const Device&, const Device&) = default;
};

// Throws Error(invalid_input) naming the field at fault unless account and device are valid ids,
// token_key_id has 1 to 64 bytes, public_key is a valid raw key of `algorithm`, public_key_sha256
// is its hash, enrolled_index is at most INT64_MAX and there is no revocation (a device is
// enrolled active; revoke_device() revokes it).
void check_new_device(const Device& device);

// Throws Error(invalid_input) naming `field` ("account", "device") unless audit::is_valid_id(id).
// The message does not echo the id: it may be anything a client sent.
void check_id(std::string_view field, std::string_view id);

// check_id("account", account) and check_id("device", device).
void check_ids(std::string_view account, std::string_view device);

class DeviceStore {
 public:
  virtual ~DeviceStore() = default;

  // Enrolls a device with the SHA-256 of its bearer credential (the credential itself never
  // reaches the store). check_new_device() first. Error(conflict) if (account, device) exists,
  // another device was enrolled by the same log entry, or the credential hash is in use.
  virtual void add_device(const Device& device, const audit::Hash& credential_sha256) = 0;

  // The device, active or revoked; nullopt if there is none. Ids are checked (check_ids).
  virtual std::optional<Device> find_device(std::string_view account, std::string_view device) = 0;

  // The active device whose credential hashes to `credential_sha256` (32 bytes, else
  // Error(invalid_input)); nullopt if none. Revoking a device deletes its credential hash, so a
  // revoked device's credential finds nothing.
  virtual std::optional<Device> find_device_by_credential(
      std::span<const std::uint8_t> credential_sha256) = 0;

  // The account's devices, active and revoked, in enrollment (log) order; empty if none. The
  // account id is checked (check_id), as in count_active_devices().
  virtual std::vector<Device> list_devices(std::string_view account) = 0;
  virtual std::uint64_t count_active_devices(std::string_view account) = 0;

  // Marks the device revoked, deletes its credential hash and all its prekeys. Error(not_found)
  // if there is no such device, Error(conflict) if it is revoked already, Error(invalid_input) if
  // the revocation's log index is not after the enrollment's.
  virtual void revoke_device(std::string_view account, std::string_view device,
                             const Revocation& revocation) = 0;

  // Stores what one `prekeys.signed` entry published (check_prekey_upload() first): each present
  // kind replaces all stored prekeys of that kind, the others stay. Error(not_found) if there is
  // no such device, Error(conflict) if it is revoked or the upload's log index is not after its
  // enrollment and every earlier upload (so stored prekeys always come from the newest entry).
  virtual void store_prekeys(std::string_view account, std::string_view device,
                             const PrekeyUpload& upload) = 0;

  // Remaining one-time prekeys of both kinds (zero for a revoked device). Error(not_found) if
  // there is no such device.
  virtual OneTimePrekeyCounts count_one_time_prekeys(std::string_view account,
                                                     std::string_view device) = 0;

  // Claims and returns the unclaimed one-time prekey of `kind` with the lowest key id, with its
  // batch position; nullopt if none is left. Each key is returned at most once, also under concurrent
  // claims from many threads and processes. Error(invalid_input) if `kind` is not a one-time
  // kind, Error(not_found) if there is no such device, Error(conflict) if it is revoked.
  virtual std::optional<StoredPrekey> claim_one_time_prekey(std::string_view account,
                                                            std::string_view device,
                                                            PrekeyKind kind) = 0;

  // The current signed prekey and ML-KEM last-resort prekey, each if stored (neither for a
  // revoked device). Error(not_found) if there is no such device.
  virtual CurrentPrekeys current_prekeys(std::string_view account, std::string_view device) = 0;

  // What one bundle of an active device needs: the device, its current prekeys, and one
  // one-time prekey of each kind if any remain, each handed out at most once ever (an
  // implementation may claim keys ahead in one durable write and hand them out from memory;
  // count_one_time_prekeys() includes those). Error(not_found) if there is no such device,
  // Error(conflict) if it is revoked.
  //
  // `reader` is the SHA-256 of the credential the caller presented, when that still needs
  // checking (nullopt when the caller is authorized already: the admin, or an anonymous fetch).
  // It must be an active device's credential, checked in the same read as the bundle, before
  // anything else: else Error(unauthenticated), and nothing is taken.
  struct BundleMaterial {
    Device device;
    CurrentPrekeys current;
    ClaimedPrekeys claimed;
  };
  virtual BundleMaterial take_bundle(std::string_view account, std::string_view device,
                                     const std::optional<audit::Hash>& reader) = 0;

  // The log size up to which the store was last reconciled with the log (keyservice/reconciler.h):
  // every device.enrolled and device.revoked entry below it is reflected here. 0 until the first.
  virtual std::uint64_t reconciled_log_size() = 0;
  virtual void set_reconciled_log_size(std::uint64_t size) = 0;

  // One past the newest log index any stored record names (0 for an empty store): the log this
  // store belongs to holds at least that many entries.
  virtual std::uint64_t log_size_needed() = 0;
};

}  // namespace escrowless::keyservice
