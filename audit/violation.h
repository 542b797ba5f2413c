// What the auditor and the monitor report: one broken rule, where, and a plain sentence.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace escrowless::audit {

struct Violation {
  std::optional<uint64_t> index;  // the log entry at fault; none for the log as a whole
  std::string rule;               // a stable name to branch on, e.g. "key_policy"
  std::string message;            // a plain sentence for people

  friend bool operator==(const Violation&, const Violation&) = default;
};

// {"index": n or null, "rule": ..., "message": ...}
inline nlohmann::json to_json(const Violation& violation) {
  return {{"index", violation.index ? nlohmann::json(*violation.index) : nlohmann::json(nullptr)},
          {"rule", violation.rule},
          {"message", violation.message}};
}

}  // namespace escrowless::audit
