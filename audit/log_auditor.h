// The no-escrow auditor: fed the log's entries in index order (the bytes as logged), it keeps
// what the rules need (entry 0's log key and token, every enrolled device with its identity key,
// which are revoked) and reports each broken rule with the entry's index and a plain sentence.
// Pure: no I/O, no clock. Its state is a JSON value, so a verifier can stop after any entry and
// go on later from where it stopped (docs/auditor-guide.md describes the state file).
//
// Rules (docs/log-format.md sections 5 and 6), by the rule name a Violation carries:
//   schema             the entry does not parse (not canonical JSON, a field missing or wrong)
//   provisioned        entry 0 is not hsm.provisioned, or another hsm.provisioned appears, or
//                      its log key is not the pinned verifier key
//   key_policy         a private key (log key, identity key, or inventory object) that is
//                      extractable, not sensitive, not always-sensitive, not never-extractable,
//                      not generated in the token, or able to decrypt, unwrap, derive or wrap
//   escrow_capability  a secret key able to wrap, unwrap or decrypt
//   unaccounted_key    an inventory's private key that neither the log key nor the identity key
//                      of an enrolled, unrevoked device explains
//   possession         a schema 2 inventory's private key whose proof of possession is null or
//                      does not verify under the logged key it claims
//   duplicate_id       two private key objects with one CKA_ID in an inventory
//   inventory          a schema 2 inventory whose parts are missing, out of order or disagree
//                      (an incomplete inventory certifies nothing), whose checkpoint is not
//                      before it, or a schema 1 inventory after schema 2 ones
//   revoked_key        an inventory's private key that belongs to a revoked device
//   token              an inventory of another token than entry 0's
//   device_state       enrolling an enrolled or revoked device; prekeys.signed or device.revoked
//                      for a device never enrolled or already revoked, or naming another key
//   actor              enrolled_by / revoked_by is neither the admin nor an enrolled, unrevoked
//                      device of the account
//   duplicate_key      an identity key that is already the log key or another device's key
//   signature          a prekey signature that does not verify under the device's logged key
//
// Notes are not violations: they name what the rules accepted that a reader should know of.
//   forced_flag        decrypt, unwrap or derive true on EC private keys, accepted because the
//                      newest mechanism list logged for the token offers no mechanism that could
//                      use an EC key for it (key_policy.h weigh_private_key)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/key_algorithm.h"
#include "audit/log_entry.h"
#include "audit/violation.h"

namespace escrowless::audit {

class PreparedIdentityKey;  // prekey.h

// The prekey signatures of one prekeys.signed entry, with the identity key they must verify
// under: self-contained, so it can run on any thread (Ed25519 verification is most of an audit's
// time).
struct SignatureCheck {
  uint64_t index = 0;
  std::string device;           // "account/device"
  uint64_t enrolled_index = 0;  // where its identity key was logged
  KeyAlgorithm algorithm = KeyAlgorithm::ed25519;
  std::vector<uint8_t> identity_key;  // raw
  // The device's key made ready once (shared by all its checks, on any thread); null if the
  // key did not prepare, and run() then fails on `identity_key` as verify_prekeys_signed does.
  std::shared_ptr<const PreparedIdentityKey> prepared_key;
  PrekeysSigned entry;

  // A "signature" violation if a signature does not verify; nullopt if all do.
  std::optional<Violation> run() const;
};

struct AuditorOptions {
  // When set, entry 0's log key must have this C2SP verifier key (the one pinned out of band).
  std::string expected_verifier_key;
  // Leave prekey signatures to the caller: audit() queues them for take_signature_checks()
  // instead of verifying them itself, so they can be verified in parallel. Every other rule is
  // unaffected (signatures change no state).
  bool defer_signatures = false;
};

class LogAuditor {
 public:
  using Options = AuditorOptions;

  explicit LogAuditor(Options options = {});
  ~LogAuditor();
  LogAuditor(LogAuditor&&) noexcept;
  LogAuditor& operator=(LogAuditor&&) noexcept;

  // Audits the next entry (index next_index()) from its bytes as logged, then moves on; an
  // entry that does not parse is a "schema" violation, never an exception.
  std::vector<Violation> audit(std::span<const uint8_t> bytes);

  // The same for an entry the caller already parsed from the logged bytes with parse_entry()
  // (so parsing can run on another thread), or that failed to parse with `error`.
  std::vector<Violation> audit(const LogEntry& entry);
  std::vector<Violation> audit_unparsable(const std::string& error);

  // The signature checks queued since the last call (defer_signatures only), in index order.
  std::vector<SignatureCheck> take_signature_checks();

  // The index of the next entry to audit: the number audited so far.
  uint64_t next_index() const noexcept;

  // Counts, for reports.
  struct Stats {
    uint64_t devices = 0;          // enrolled, revoked or not
    uint64_t revoked = 0;
    uint64_t signatures = 0;       // prekey signatures verified (or queued, deferring)
    uint64_t inventories = 0;
    uint64_t inventory_keys = 0;   // private keys checked in inventories
    uint64_t proofs = 0;           // proofs of possession verified (schema 2 inventories)
  };
  Stats stats() const noexcept;

  // The index of the first part of a schema 2 inventory whose other parts are not all audited
  // yet (the log may be mid-way through writing them): nothing is certified about it so far.
  std::optional<uint64_t> incomplete_inventory() const noexcept;

  // The notes of every entry audited by this object (not those before a resumed state), one per
  // accepted flag and distinct mechanism list, at the first entry it was accepted in.
  std::vector<Violation> notes() const;

  // The state, and an auditor resumed from it with `options`. from_json throws invalid_input on
  // a malformed state, or one pinned to another verifier key than options.expected_verifier_key.
  nlohmann::json to_json() const;
  static LogAuditor from_json(const nlohmann::json& state, Options options = {});

 private:
  friend class AuditVisitor;    // the rules, in log_auditor.cc
  friend class InventoryAudit;  // the inventory rules, in inventory_audit.cc
  friend struct KeyRules;       // the private key rules both use (log_auditor_state.h)
  struct State;
  explicit LogAuditor(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace escrowless::audit
