#include "audit/inventory_audit.h"

#include <utility>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/inventory_parts.h"
#include "audit/key_policy.h"
#include "audit/prekey.h"

namespace escrowless::audit {
namespace {

std::string short_hex(const Hash& hash) { return to_hex(hash).substr(0, 16); }

std::string inventory_name(const std::array<uint8_t, kInventoryIdSize>& id) { return hex_encode(id); }

}  // namespace

std::string describe(const InventoryObject& object) {
  std::string text;
  switch (object.object_class) {
    case ObjectClass::private_key: text = "private key"; break;
    case ObjectClass::secret_key: text = "secret key"; break;
    default: text = std::string(to_string(object.object_class)) + " object"; break;
  }
  text += " '" + object.label + "'";
  text += " (id " + (object.id.empty() ? std::string("none") : hex_encode(object.id));
  if (object.key_type) text += ", " + std::string(to_string(*object.key_type));
  if (object.public_key_sha256) text += ", key " + short_hex(*object.public_key_sha256);
  return text + ")";
}

void InventoryAudit::audit(const HsmInventory& entry) {
  if (entry.part) {
    audit_part(entry);
  } else {
    audit_schema1(entry);
  }
}

void InventoryAudit::audit_schema1(const HsmInventory& entry) {
  if (s_.schema2_inventories) {
    flag("inventory", "a schema 1 inventory after schema 2 ones: it carries no proofs of possession, so it "
                      "can't stand in for one");
  }
  ++s_.stats.inventories;
  check_token(entry.token);
  std::set<std::vector<uint8_t>> private_ids;
  for (const InventoryObject& object : entry.objects) check_object(object, std::nullopt, private_ids);
}

void InventoryAudit::audit_part(const HsmInventory& entry) {
  s_.schema2_inventories = true;
  const InventoryPart& part = *entry.part;
  if (part.index == 0) {
    if (!start(entry)) return;
  } else {
    PendingInventory* pending = s_.pending_inventory ? &*s_.pending_inventory : nullptr;
    if (pending == nullptr || pending->id != part.id || pending->next_part != part.index) {
      flag("inventory", "part " + std::to_string(part.index) + " of " + std::to_string(part.count) +
                            " of inventory " + inventory_name(part.id) +
                            " without its earlier parts before it: its objects can't be checked as one inventory");
      return;
    }
    std::string disagreement;
    if (part.count != pending->count) disagreement = "its part count";
    else if (entry.time != pending->time) disagreement = "its time";
    else if (entry.token != pending->token) disagreement = "its token";
    else if (part.first != pending->next_position) disagreement = "the position of its first object";
    if (!disagreement.empty()) {
      flag("inventory", "part " + std::to_string(part.index) + " of inventory " + inventory_name(part.id) +
                            " (header at entry " + std::to_string(pending->header_index) + ") differs in " +
                            disagreement + " from the parts before it: the inventory is inconsistent");
      s_.pending_inventory.reset();
      return;
    }
  }
  PendingInventory& pending = *s_.pending_inventory;
  if (pending.next_position + entry.objects.size() > pending.object_count) {
    flag("inventory", "inventory " + inventory_name(part.id) + " holds more objects than its header's " +
                          std::to_string(pending.object_count));
    s_.pending_inventory.reset();
    return;
  }
  for (std::size_t i = 0; i < entry.objects.size(); ++i) {
    check_object(entry.objects[i], pending.next_position + i, pending.private_ids);
  }
  pending.next_position += entry.objects.size();
  pending.next_part = part.index + 1;
  if (pending.next_part < pending.count) return;
  if (pending.next_position != pending.object_count) {
    flag("inventory", "inventory " + inventory_name(part.id) + " ends after " +
                          std::to_string(pending.next_position) + " objects, but its header announced " +
                          std::to_string(pending.object_count));
  } else {
    ++s_.stats.inventories;
  }
  s_.pending_inventory.reset();
}

bool InventoryAudit::start(const HsmInventory& entry) {
  const InventoryPart& part = *entry.part;
  if (s_.pending_inventory) {
    const PendingInventory& old = *s_.pending_inventory;
    flag("inventory", "inventory " + inventory_name(old.id) + " (header at entry " +
                          std::to_string(old.header_index) + ") is incomplete: " + std::to_string(old.next_part) +
                          " of its " + std::to_string(old.count) +
                          " parts are logged before the next inventory begins, so it certifies nothing");
    s_.pending_inventory.reset();
  }
  check_token(entry.token);
  const InventoryHeader& header = *part.header;
  if (header.checkpoint.size > index_) {
    flag("inventory", "inventory " + inventory_name(part.id) + " binds its proofs to a checkpoint of size " +
                          std::to_string(header.checkpoint.size) + ", which is not before it (entry " +
                          std::to_string(index_) + ")");
  }
  PendingInventory pending;
  pending.header_index = index_;
  pending.id = part.id;
  pending.count = part.count;
  pending.next_part = 0;
  pending.next_position = 0;
  pending.object_count = header.object_count;
  pending.time = entry.time;
  pending.token = entry.token;
  pending.checkpoint = header.checkpoint;
  pending.mechanisms = header.mechanisms;
  s_.pending_inventory = std::move(pending);
  // The newest list logged for the token: its own objects (and later entries) are weighed against
  // it. An unchanged list keeps the entry that first logged it, so notes don't repeat per inventory.
  if (!s_.mechanisms || s_.mechanisms->list != header.mechanisms) {
    s_.mechanisms = LoggedMechanisms{index_, header.mechanisms};
  }
  return true;
}

void InventoryAudit::check_object(const InventoryObject& object, std::optional<uint64_t> position,
                                  std::set<std::vector<uint8_t>>& private_ids) {
  switch (object.object_class) {
    case ObjectClass::private_key:
      ++s_.stats.inventory_keys;
      KeyRules::check_private_key(s_, index_, found_, "inventory: " + describe(object), object.flags, object.key_type);
      if (!object.id.empty() && !private_ids.insert(object.id).second) {
        flag("duplicate_id", "inventory: " + describe(object) + " shares its CKA_ID with another private key "
                             "object: a lookup by id can't tell them apart, and one of them may pose as the other");
      }
      account_for(object);
      if (position) check_proof(object, *position);
      break;
    case ObjectClass::secret_key:
    case ObjectClass::otp_key:
    case ObjectClass::vendor_defined:
      if (object.object_class == ObjectClass::vendor_defined && !object.key_type) break;
      if (const auto capabilities = secret_key_capabilities(object.flags); !capabilities.empty()) {
        flag("escrow_capability", "inventory: " + describe(object) + " is " + join_phrases(capabilities) +
                                      ": an escrow capability (it could export other keys or open ciphertexts)");
      }
      break;
    default:
      break;
  }
}

void InventoryAudit::check_proof(const InventoryObject& object, uint64_t position) {
  if (!object.public_key_sha256) return;  // unaccounted already: no key to prove
  const auto owner = s_.key_owners.find(*object.public_key_sha256);
  if (owner == s_.key_owners.end()) return;  // unaccounted already
  const bool log_key = owner->second.empty();
  KeyAlgorithm algorithm = s_.log_key_algorithm;
  const std::vector<uint8_t>* key = &s_.log_key;
  if (!log_key) {
    const DeviceRecord& device = s_.devices.at(owner->second);
    algorithm = device.algorithm;
    key = &device.public_key;
  }
  const std::string whose = log_key ? std::string("the log key") : "the key of device " + owner->second;
  const std::string what = "inventory: " + describe(object) + " claims to be " + whose;
  if (!object.proof) {
    flag("possession", what + " but gave no proof of possession (it would not sign the challenge)");
    return;
  }
  if (key->empty()) {
    flag("possession", what + ", whose public key this auditor's saved state lacks: resume from the start of the log");
    return;
  }
  const PendingInventory& pending = *s_.pending_inventory;
  const std::vector<uint8_t> message =
      inventory_proof_message(s_.origin, pending.checkpoint, pending.id, position);
  bool valid = false;
  try {
    valid = verify_prekey_signature(algorithm, *key, message, *object.proof);
  } catch (const Error& e) {
    flag("possession", what + ", but its proof can't be checked: " + e.what());
    return;
  }
  if (!valid) {
    flag("possession", what + ", but its proof of possession does not verify under that key: the object "
                       "does not hold the key it claims");
    return;
  }
  ++s_.stats.proofs;
}

void InventoryAudit::account_for(const InventoryObject& object) {
  if (!object.public_key_sha256) {
    flag("unaccounted_key", "inventory: " + describe(object) +
                                " has no public key hash, so no logged key accounts for it");
    return;
  }
  const auto owner = s_.key_owners.find(*object.public_key_sha256);
  if (owner == s_.key_owners.end()) {
    flag("unaccounted_key", "inventory: " + describe(object) +
                                " is accounted for by no device.enrolled or log-key entry");
    return;
  }
  if (owner->second.empty()) return;  // the log key
  const DeviceRecord& device = s_.devices.at(owner->second);
  if (device.revoked_index) {
    flag("revoked_key", "inventory: " + describe(object) + " is the key of device " + owner->second +
                            ", revoked at entry " + std::to_string(*device.revoked_index) +
                            ", and is still on the token");
  }
}

void InventoryAudit::check_token(const Token& token) {
  if (s_.provisioned && token != s_.token) {
    flag("token", "an inventory of token '" + token.label + "' (serial " + token.serial +
                      "), not entry 0's token '" + s_.token.label + "' (serial " + s_.token.serial + ")");
  }
}

void InventoryAudit::flag(std::string rule, std::string message) {
  found_.push_back({index_, std::move(rule), std::move(message)});
}

}  // namespace escrowless::audit
