#include "audit/witness_quorum.h"

#include <charconv>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "audit/error.h"
#include "audit/note.h"

namespace escrowless::audit {
namespace {

std::string utc(uint64_t seconds) {
  const std::time_t time = static_cast<std::time_t>(seconds);
  std::tm parts{};
  ::gmtime_r(&time, &parts);
  char text[32] = {};
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

}  // namespace

uint64_t parse_duration(std::string_view text) {
  uint64_t unit = 1;
  std::string_view digits = text;
  if (!text.empty()) {
    switch (text.back()) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: unit = 0; break;
    }
    if (unit != 0) digits.remove_suffix(1);
    if (unit == 0) unit = 1;
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || value == 0 ||
      value > (uint64_t{1} << 40) / unit) {
    throw Error(ErrorKind::invalid_input, "'" + std::string(text) + "' is not a duration (e.g. 90s, 15m, 2h, 7d)");
  }
  return value * unit;
}

WitnessPolicy load_witness_policy(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::invalid_input, "cannot read the witness policy file " + path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return parse_witness_policy(text.str());
  } catch (const Error& e) {
    throw Error(ErrorKind::invalid_input, "witness policy file " + path + ": " + e.what());
  }
}

void require_quorum(const WitnessPolicy& policy, std::string_view signed_note, uint64_t now, uint64_t max_age_seconds) {
  const Note note = parse_note(signed_note);
  std::set<std::string> cosigned;
  std::map<std::string, std::string> why;  // witness -> why it does not count
  for (const PolicyWitness& witness : policy.witnesses) {
    std::optional<uint64_t> timestamp;
    try {
      timestamp = verify_cosignature(note, witness.key);
    } catch (const Error& e) {
      throw Error(e.kind(), "witness " + witness.name + "'s cosignature on the checkpoint does not verify: " + e.what());
    }
    if (!timestamp) {
      why[witness.name] = "no cosignature";
    } else if (*timestamp > now + 60) {
      why[witness.name] = "cosigned at " + utc(*timestamp) + ", in the future";
    } else if (now >= max_age_seconds && *timestamp < now - max_age_seconds) {
      why[witness.name] = "cosigned at " + utc(*timestamp) + ", older than the maximum age of " +
                          std::to_string(max_age_seconds) + " s";
    } else {
      cosigned.insert(witness.name);
    }
  }
  const QuorumResult result = evaluate_quorum(policy, cosigned);
  if (result.met) return;
  std::string message = "no quorum of witness cosignatures (quorum " + policy.quorum + "): missing ";
  for (std::size_t i = 0; i < result.missing.size(); ++i) {
    message += (i ? ", " : "") + result.missing[i] + " (" + why[result.missing[i]] + ")";
  }
  throw Error(ErrorKind::mismatch, message);
}

}  // namespace escrowless::audit
