// Internal to the auditor (log_auditor.cc, log_auditor_state.cc): what it remembers between
// entries, and its JSON form.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <array>
#include <string>
#include <unordered_map>
#include <vector>

#include "audit/key_algorithm.h"
#include "audit/log_auditor.h"

namespace escrowless::audit {

struct DeviceRecord {
  KeyAlgorithm algorithm = KeyAlgorithm::ed25519;
  std::vector<uint8_t> public_key;  // raw, as logged
  Hash key_hash{};                  // its public_key_sha256
  uint64_t enrolled_index = 0;
  std::optional<uint64_t> revoked_index;
  // The key ready to verify with, made at the device's first prekeys.signed and dropped when it
  // is revoked (no signature of it is valid afterwards). Not saved: a resumed auditor remakes it.
  std::shared_ptr<const PreparedIdentityKey> prepared;
};

// Hashes are uniformly random already: their first 8 bytes make a good bucket hash.
struct HashBucket {
  std::size_t operator()(const Hash& hash) const noexcept {
    std::size_t value = 0;
    std::memcpy(&value, hash.data(), sizeof value);
    return value;
  }
};

// A schema 2 inventory whose header is logged but not yet all of its parts.
struct PendingInventory {
  uint64_t header_index = 0;
  std::array<uint8_t, kInventoryIdSize> id{};
  uint32_t count = 0;       // parts
  uint32_t next_part = 1;   // the part expected next
  uint64_t next_position = 0;  // the position its first object must have
  uint64_t object_count = 0;
  EntryTime time;
  Token token;
  InventoryCheckpoint checkpoint;
  std::vector<TokenMechanism> mechanisms;
  std::set<std::vector<uint8_t>> private_ids;  // CKA_IDs of the private keys seen so far
};

// The newest mechanism list logged for the token: what forced capability flags are weighed
// against (key_policy.h weigh_private_key).
struct LoggedMechanisms {
  uint64_t index = 0;  // the hsm.provisioned or inventory header entry that first logged it
  std::vector<TokenMechanism> list;
};

// Forced flags accepted on EC private keys, by flag and the mechanism list that allowed them.
struct AcceptedFlag {
  uint64_t first_index = 0;
  uint64_t last_index = 0;
  uint64_t keys = 0;  // times accepted: a key counts again in each entry that lists it
};

struct LogAuditor::State {
  Options options;
  uint64_t next_index = 0;
  bool provisioned = false;
  bool reported_unprovisioned = false;
  std::string origin;
  std::string verifier_key;
  Token token;
  Hash log_key_hash{};
  KeyAlgorithm log_key_algorithm = KeyAlgorithm::ed25519;
  std::vector<uint8_t> log_key;  // raw; empty when resumed from a version 1 state
  bool schema2_inventories = false;  // once seen, a schema 1 inventory is a downgrade
  std::optional<PendingInventory> pending_inventory;
  std::optional<LoggedMechanisms> mechanisms;  // saved (version 2 states may lack it)
  // By (flag, index of the mechanism list); not saved: a report names what its run audited.
  std::map<std::pair<std::string, uint64_t>, AcceptedFlag> accepted;
  std::unordered_map<std::string, DeviceRecord> devices;  // by "account/device"
  // Every logged key by its public_key_sha256: "" for the log key, else "account/device".
  std::unordered_map<Hash, std::string, HashBucket> key_owners;
  Stats stats;
  std::vector<SignatureCheck> pending;  // defer_signatures: not part of the saved state
};

struct KeyRules {
  // The private key rules on `flags` of a key of `key_type`, weighed against the newest logged
  // mechanism list: a "key_policy" violation for the faults (on `what`, "the log key 'x'"), and
  // each accepted forced flag counted in state.accepted (log_auditor.cc).
  static void check_private_key(LogAuditor::State& state, uint64_t index, std::vector<Violation>& found,
                                const std::string& what, const Attributes& flags, std::optional<KeyType> key_type);
};

}  // namespace escrowless::audit
