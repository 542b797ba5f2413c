// Bringing the store and the token back in step with the log after a crash or a failed write.
//
// An enrollment generates its key in the token, logs device.enrolled, then stores the device; a
// revocation logs device.revoked, then updates the store, then destroys the key. The log, the
// store (devices.db) and the token are three places with no transaction across them, so a crash
// or a failing write between the steps leaves one behind another:
//   - a device key in the token that no log entry accounts for (killed before the log append);
//   - a logged enrollment the store lacks (killed before storing: nobody got its credential);
//   - a logged revocation the store lacks (the device would still act and be served);
//   - the key of a revoked device still in the token (killed before destroying it);
//   - with SoftHSM's file store, a half-made key object without CKA_ID or label (killed inside
//     C_GenerateKeyPair; a real HSM makes objects atomically).
// The log is the truth, and what it signed stands. reconcile() makes the rest follow it: it applies
// logged revocations to the store, stores a logged but unstored enrollment as revoked and logs its
// revocation (the device was never handed out), and destroys device keys that no active device
// holds, and half-made keys. Auditors then see what they would have seen had the operation failed cleanly.
//
// It runs before the service starts serving, and again now and then while it serves (to move
// the store's reconciled_log_size() mark forward, so that the next start-up reads only the
// entries since). It holds DeviceKeys::hold_lifecycle(): no enrollment or revocation is half way
// while it looks.
//
// Guard rails: a devices.db that is not this log's (a wrong data dir, a restored backup) would
// look like thousands of missing enrollments, and a token shared with something else like
// thousands of unaccounted keys. Past kMaxRepairs of either, reconcile() changes nothing and
// throws Error(integrity); so does a store naming log entries the log does not have.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "keyservice/device_keys.h"
#include "keyservice/log/transparency_log.h"
#include "keyservice/store/device_store.h"
#include "pkcs11/object_attributes.h"
#include "pkcs11/token.h"

namespace escrowless::keyservice {

struct ReconcileReport {
  std::uint64_t from = 0;  // log entries read: [from, to)
  std::uint64_t to = 0;
  std::size_t revocations_applied = 0;    // logged device.revoked the store had missed
  std::size_t enrollments_withdrawn = 0;  // logged device.enrolled the store had missed (and their keys)
  std::size_t keys_destroyed = 0;         // of revoked devices, and keys no entry accounts for

  std::size_t repairs() const { return revocations_applied + enrollments_withdrawn + keys_destroyed; }
};

// Withdraws a device whose device.enrolled entry is in the log (at device.enrolled_index) but
// whose enrollment was never acknowledged, so nobody holds its credential: logs its
// device.revoked unless `logged` says where it already is, destroys its key if the token still
// holds it, then stores it revoked. Each step is ordered so that a crash between two leaves what
// reconcile() finishes. Returns the revocation; throws what the log, token or store throw.
Revocation withdraw_enrollment(TransparencyLog& log, DeviceStore& store, DeviceKeys& keys, const Device& device,
                               std::optional<Revocation> logged);

class Reconciler {
 public:
  // More repairs of one kind than enrollments could ever have been in flight at once.
  static constexpr std::size_t kMaxRepairs = 256;

  Reconciler(pkcs11::Token& token, TransparencyLog& log, DeviceStore& store, DeviceKeys& keys,
             std::size_t max_repairs = kMaxRepairs)
      : token_(token), log_(log), store_(store), keys_(keys), max_repairs_(max_repairs) {}

  // Reads the log's entries from the store's mark to the newest signed checkpoint, repairs what
  // they show, and with `sweep_token` (at start-up) also checks that the store names no entry
  // beyond the log and sweeps every device key in the token (scans of every device row and every
  // object). Moves the mark only once everything succeeded.
  ReconcileReport reconcile(bool sweep_token);

 private:
  enum class Verdict { keep, stale, unknown };
  Verdict judge(const pkcs11::ObjectAttributes& object);
  std::size_t sweep();

  pkcs11::Token& token_;
  TransparencyLog& log_;
  DeviceStore& store_;
  DeviceKeys& keys_;
  const std::size_t max_repairs_;
};

}  // namespace escrowless::keyservice
