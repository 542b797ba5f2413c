// keyaudit's state file: what one run verified, so the next run checks only what is new. JSON,
// mode 0600, written atomically (a temporary file in the same folder, fsync, rename), so a crash
// or a failed run leaves the previous state intact. Format: docs/auditor-guide.md.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace escrowless::keyaudit {

// The file's JSON, or nullopt if it does not exist. Throws std::runtime_error if it can't be
// read or is not JSON.
std::optional<nlohmann::json> load_state(const std::string& path);

// Replaces the file with `state`. Throws std::runtime_error naming the step that failed.
void save_state(const std::string& path, const nlohmann::json& state);

}  // namespace escrowless::keyaudit
