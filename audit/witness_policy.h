// Witness policies in the line format of Sigsum's policy file (sigsum-go doc/policy.md) as
// Tessera uses it, with C2SP vkeys for keys:
//   log <vkey> [<url>]                       a log whose checkpoints the policy accepts
//   witness <name> <vkey> [<url>]            a witness (cosignature/v1 key, see cosignature.h)
//   group <name> all|any|<k> <member>...     met when at least k of its members are met
//   quorum <name>                            exactly once; `none` requires no cosignature
// Comments start with '#' and run to the end of the line; items are separated by blanks.
// Witnesses and groups share one namespace, every name is defined on a line before the lines
// that use it (so groups can't be circular), and `none` is predefined.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "audit/cosignature.h"
#include "audit/verifier_key.h"

namespace escrowless::audit {

struct PolicyLog {
  VerifierKey key;
  std::string url;  // empty when not given
};

struct PolicyWitness {
  std::string name;  // the policy's own name for it
  CosignerKey key;
  std::string url;
};

struct PolicyGroup {
  std::string name;
  std::size_t threshold = 0;         // 1..members.size()
  std::vector<std::string> members;  // witnesses or groups defined before
};

struct WitnessPolicy {
  std::vector<PolicyLog> logs;
  std::vector<PolicyWitness> witnesses;
  std::vector<PolicyGroup> groups;
  std::string quorum;  // a witness, a group, or "none"
};

// Parses a policy file's text. Throws invalid_input starting "policy line N: " for the first
// line at fault (unknown keyword, wrong item count, bad vkey or threshold, a name defined twice
// or used before its definition, a repeated group member, a second quorum line), or
// "policy: no quorum line" when there is none.
WitnessPolicy parse_witness_policy(std::string_view text);

struct QuorumResult {
  bool met = false;
  // Witnesses of the quorum without a valid cosignature, sorted (empty when every witness the
  // quorum names cosigned); says whom to blame when the quorum is not met.
  std::vector<std::string> missing;
};

// Whether the witnesses named in `cosigned` (policy names of witnesses with valid cosignatures)
// meet the policy's quorum.
QuorumResult evaluate_quorum(const WitnessPolicy& policy, const std::set<std::string>& cosigned);

// Checks every witness's cosignature on a signed checkpoint note and evaluates the quorum. A
// cosignature counts when it verifies and its timestamp lies in [now - max_age, now + 60 s]
// (the slack for clocks a little ahead). A cosignature that is present but does not verify is
// an Error(mismatch): a witness key signing garbage is not a witness that is merely absent.
// Throws invalid_input for a malformed note or cosignature.
QuorumResult check_cosigned_checkpoint(const WitnessPolicy& policy, std::string_view signed_note, uint64_t now,
                                       uint64_t max_age_seconds);

}  // namespace escrowless::audit
