// Internal to the auditor: the hsm.inventory rules (log_auditor.h lists them), for schema 1
// entries (a whole inventory each) and schema 2 parts, which it reassembles in log order into
// one inventory before certifying anything about it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "audit/log_auditor_state.h"

namespace escrowless::audit {

class InventoryAudit {
 public:
  InventoryAudit(LogAuditor::State& state, uint64_t index, std::vector<Violation>& found)
      : s_(state), index_(index), found_(found) {}

  void audit(const HsmInventory& entry);

 private:
  void audit_schema1(const HsmInventory& entry);
  void audit_part(const HsmInventory& entry);
  // Starts a new inventory at its header; false (after flagging) if it can't be checked.
  bool start(const HsmInventory& entry);
  // The rules on each object; `position` is set for schema 2 (proofs), unset for schema 1.
  void check_object(const InventoryObject& object, std::optional<uint64_t> position,
                    std::set<std::vector<uint8_t>>& private_ids);
  void check_proof(const InventoryObject& object, uint64_t position);
  void account_for(const InventoryObject& object);
  void check_token(const Token& token);
  void flag(std::string rule, std::string message);

  LogAuditor::State& s_;
  uint64_t index_;
  std::vector<Violation>& found_;
};

// "private key 'alice.phone' (id 6f7f..., ec-edwards, key deb2ded39dc26fce)".
std::string describe(const InventoryObject& object);

}  // namespace escrowless::audit
