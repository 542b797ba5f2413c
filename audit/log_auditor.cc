#include "audit/log_auditor.h"

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <utility>
#include <variant>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/inventory_audit.h"
#include "audit/key_policy.h"
#include "audit/log_auditor_state.h"
#include "audit/prekey.h"

namespace escrowless::audit {
namespace {

std::string device_name(const std::string& account, const std::string& device) {
  return account + "/" + device;
}

std::string short_hex(const Hash& hash) { return to_hex(hash).substr(0, 16); }

KeyType key_type_of(KeyAlgorithm algorithm) {
  return algorithm == KeyAlgorithm::ecdsa_p256 ? KeyType::ec : KeyType::ec_edwards;
}

}  // namespace

void KeyRules::check_private_key(LogAuditor::State& state, uint64_t index, std::vector<Violation>& found,
                                 const std::string& what, const Attributes& flags, std::optional<KeyType> key_type) {
  const PrivateKeyFindings findings =
      weigh_private_key(flags, key_type, state.mechanisms ? &state.mechanisms->list : nullptr);
  if (!findings.faults.empty()) {
    found.push_back({index, "key_policy", what + " breaks the private key rules: " + join_phrases(findings.faults)});
  }
  for (const std::string& flag : findings.accepted) {
    const auto it = state.accepted.try_emplace({flag, state.mechanisms->index}, AcceptedFlag{index, index, 0}).first;
    it->second.last_index = index;
    ++it->second.keys;
  }
}

std::vector<Violation> LogAuditor::notes() const {
  std::vector<Violation> notes;
  for (const auto& [key, accepted] : state_->accepted) {
    const auto& [flag, list_index] = key;
    const std::string where = accepted.first_index == accepted.last_index
                                  ? "entry " + std::to_string(accepted.first_index)
                                  : "entries " + std::to_string(accepted.first_index) + " to " +
                                        std::to_string(accepted.last_index);
    notes.push_back({accepted.first_index, "forced_flag",
                     flag + " true, forced by the token, accepted " + std::to_string(accepted.keys) +
                         (accepted.keys == 1 ? " time" : " times") + " on EC private keys (" + where +
                         "): the mechanism list first logged at entry " + std::to_string(list_index) +
                         " offers no mechanism that could " + flag +
                         " with an EC key (docs/log-format.md section 6, forced flags)"});
  }
  std::stable_sort(notes.begin(), notes.end(),
                   [](const Violation& a, const Violation& b) { return a.index < b.index; });
  return notes;
}

std::optional<Violation> SignatureCheck::run() const {
  try {
    if (prepared_key) {
      verify_prekeys_signed(entry, *prepared_key);
    } else {
      verify_prekeys_signed(entry, algorithm, identity_key);
    }
    return std::nullopt;
  } catch (const Error& e) {
    return Violation{index, "signature",
                     "prekeys.signed for device " + device +
                         ": a signature does not verify under the identity key logged at entry " +
                         std::to_string(enrolled_index) + " (" + e.what() + ")"};
  }
}

std::vector<SignatureCheck> LogAuditor::take_signature_checks() { return std::exchange(state_->pending, {}); }

LogAuditor::LogAuditor(Options options) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
}
LogAuditor::LogAuditor(std::unique_ptr<State> state) : state_(std::move(state)) {}
LogAuditor::~LogAuditor() = default;
LogAuditor::LogAuditor(LogAuditor&&) noexcept = default;
LogAuditor& LogAuditor::operator=(LogAuditor&&) noexcept = default;

uint64_t LogAuditor::next_index() const noexcept { return state_->next_index; }
LogAuditor::Stats LogAuditor::stats() const noexcept { return state_->stats; }
std::optional<uint64_t> LogAuditor::incomplete_inventory() const noexcept {
  if (!state_->pending_inventory) return std::nullopt;
  return state_->pending_inventory->header_index;
}

std::vector<Violation> LogAuditor::audit(std::span<const uint8_t> bytes) {
  std::optional<LogEntry> entry;
  try {
    entry.emplace(parse_entry(bytes));
  } catch (const Error& e) {
    return audit_unparsable(e.what());
  }
  return audit(*entry);
}

std::vector<Violation> LogAuditor::audit_unparsable(const std::string& error) {
  const uint64_t index = state_->next_index++;
  return {{index, "schema", "the entry is not a valid log entry: " + error}};
}

// The rules, one visitor per entry type. Each appends to `found`.
class AuditVisitor {
 public:
  AuditVisitor(LogAuditor::State& state, uint64_t index, std::vector<Violation>& found)
      : s_(state), index_(index), found_(found) {}

  void operator()(const HsmProvisioned& entry) {
    if (index_ != 0) {
      flag("provisioned", "a second hsm.provisioned entry: the log key can't change (entry 0 is the only one)");
      return;
    }
    s_.provisioned = true;
    s_.origin = entry.origin;
    s_.token = entry.token;
    s_.verifier_key = entry.verifier_key();
    if (!s_.options.expected_verifier_key.empty() && s_.verifier_key != s_.options.expected_verifier_key) {
      flag("provisioned", "entry 0's log key " + s_.verifier_key + " is not the pinned verifier key " +
                              s_.options.expected_verifier_key);
    }
    const Hash hash = entry.log_key.public_key_sha256();
    s_.log_key_hash = hash;
    s_.log_key_algorithm = entry.log_key.algorithm;
    s_.log_key = entry.log_key.public_key;
    s_.key_owners.emplace(hash, std::string());
    // Its own mechanism list is the newest one logged for the token at this point.
    if (entry.mechanisms) s_.mechanisms = LoggedMechanisms{index_, *entry.mechanisms};  // the first list
    KeyRules::check_private_key(s_, index_, found_, "the log key '" + entry.log_key.label + "'",
                      entry.log_key.attributes.private_key, key_type_of(entry.log_key.algorithm));
  }

  void operator()(const DeviceEnrolled& entry) {
    const std::string name = device_name(entry.account, entry.device);
    need_provisioned();
    KeyRules::check_private_key(s_, index_, found_, "the identity key of device " + name,
                      entry.identity_key.attributes.private_key, key_type_of(entry.identity_key.algorithm));
    check_actor(entry.enrolled_by, entry.account, "enrolled " + name);
    const Hash hash = entry.identity_key.public_key_sha256();
    if (const auto owner = s_.key_owners.find(hash); owner != s_.key_owners.end()) {
      flag("duplicate_key", "device " + name + " is enrolled with identity key " + short_hex(hash) +
                                ", which is already " +
                                (owner->second.empty() ? std::string("the log key") : "the key of device " + owner->second));
    }
    if (const auto known = s_.devices.find(name); known != s_.devices.end()) {
      flag("device_state", "device " + name + " is enrolled again, but it was enrolled at entry " +
                               std::to_string(known->second.enrolled_index) +
                               (known->second.revoked_index ? " and revoked at entry " + std::to_string(*known->second.revoked_index) : std::string()));
      return;  // the first enrollment stays the one the rules use
    }
    s_.devices.emplace(name, DeviceRecord{entry.identity_key.algorithm, entry.identity_key.public_key, hash, index_,
                                          std::nullopt, nullptr});
    s_.key_owners.emplace(hash, name);  // keeps an earlier owner if the key was a duplicate
    ++s_.stats.devices;
  }

  void operator()(const PrekeysSigned& entry) {
    const std::string name = device_name(entry.account, entry.device);
    DeviceRecord* device = usable_device(name, "prekeys.signed");
    if (device == nullptr) return;
    if (entry.identity_key_sha256 != device->key_hash) {
      flag("device_state", "prekeys.signed for device " + name + " names identity key " +
                               short_hex(entry.identity_key_sha256) + ", but the device's logged key is " +
                               short_hex(device->key_hash));
      return;
    }
    if (!device->prepared) {
      try {
        device->prepared = std::make_shared<const PreparedIdentityKey>(device->algorithm, device->public_key);
      } catch (const Error&) {
        // A malformed key: the check goes the raw way and reports it as a signature finding.
      }
    }
    SignatureCheck check{index_, name, device->enrolled_index, device->algorithm, device->public_key,
                         device->prepared, entry};
    s_.stats.signatures += (entry.signed_prekey ? 1 : 0) + (entry.pq_last_resort_prekey ? 1 : 0);
    if (s_.options.defer_signatures) {
      s_.pending.push_back(std::move(check));
    } else if (auto violation = check.run()) {
      found_.push_back(std::move(*violation));
    }
  }

  void operator()(const DeviceRevoked& entry) {
    const std::string name = device_name(entry.account, entry.device);
    check_actor(entry.revoked_by, entry.account, "revoked " + name);
    DeviceRecord* device = usable_device(name, "device.revoked");
    if (device == nullptr) return;
    if (entry.identity_key_sha256 != device->key_hash) {
      flag("device_state", "device.revoked for device " + name + " names identity key " +
                               short_hex(entry.identity_key_sha256) + ", but the device's logged key is " +
                               short_hex(device->key_hash));
    }
    device->revoked_index = index_;
    device->prepared.reset();  // checks already queued keep their own reference
    ++s_.stats.revoked;
  }

  void operator()(const HsmInventory& entry) {
    need_provisioned();
    InventoryAudit(s_, index_, found_).audit(entry);
  }

 private:
  void flag(std::string rule, std::string message) {
    found_.push_back({index_, std::move(rule), std::move(message)});
  }

  void need_provisioned() {
    if (!s_.provisioned && !s_.reported_unprovisioned) {
      s_.reported_unprovisioned = true;
      flag("provisioned", "the log has no hsm.provisioned entry 0, so no log key or token to check against");
    }
  }

  // The enrolled, unrevoked device `name`, or nullptr after flagging why there is none.
  DeviceRecord* usable_device(const std::string& name, const char* type) {
    const auto found = s_.devices.find(name);
    if (found == s_.devices.end()) {
      flag("device_state", std::string(type) + " for device " + name + ", which was never enrolled");
      return nullptr;
    }
    if (found->second.revoked_index) {
      flag("device_state", std::string(type) + " for device " + name + ", which was already revoked at entry " +
                               std::to_string(*found->second.revoked_index));
      return nullptr;
    }
    return &found->second;
  }

  // The admin, or an enrolled, unrevoked device of `account` (a device revoking itself is one).
  void check_actor(const Actor& actor, const std::string& account, const std::string& what) {
    if (actor.is_admin()) return;
    const auto found = s_.devices.find(device_name(account, actor.device));
    if (found == s_.devices.end() || found->second.revoked_index) {
      flag("actor", "device:" + actor.device + " " + what + ", but it is not an enrolled, unrevoked device of account " +
                        account);
    }
  }

  LogAuditor::State& s_;
  uint64_t index_;
  std::vector<Violation>& found_;
};

std::vector<Violation> LogAuditor::audit(const LogEntry& entry) {
  const uint64_t index = state_->next_index++;
  std::vector<Violation> found;
  if (index == 0 && entry.type() != EntryType::hsm_provisioned) {
    found.push_back({index, "provisioned", "entry 0 is " + std::string(to_string(entry.type())) +
                                               ", not hsm.provisioned: the log names no log key or token"});
    state_->reported_unprovisioned = true;
  }
  try {
    std::visit(AuditVisitor(*state_, index, found), entry.body);
  } catch (const Error& e) {
    // A parsed entry is well formed, so this is a key the rules can't read (e.g. a P-256 point
    // off the curve slipped past a hand-built LogEntry): still a finding, never a crash.
    found.push_back({index, "schema", std::string("the entry can't be checked: ") + e.what()});
  }
  return found;
}

}  // namespace escrowless::audit
