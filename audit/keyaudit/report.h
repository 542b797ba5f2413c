// What keyaudit prints: a short human report on stdout (default) or one JSON object (--json),
// and a progress line on stderr while a long run fetches entries.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/violation.h"

namespace escrowless::keyaudit {

struct Report {
  std::string command;  // "verify" or "monitor"
  std::string server;
  std::string origin;
  uint64_t size = 0;
  std::string root;           // base64
  std::string checkpoint;     // the signed note checked
  uint64_t previous_size = 0;
  bool had_state = false;
  uint64_t new_entries = 0;
  double seconds = 0;
  nlohmann::json details = nlohmann::json::object();  // command-specific counts
  std::vector<audit::Violation> violations;
  // What the rules accepted that a reader should know of (LogAuditor::notes): never a failure.
  std::vector<audit::Violation> notes;
  bool state_saved = false;

  bool ok() const { return violations.empty(); }
  nlohmann::json to_json() const;
  std::string to_text() const;
};

// Prints "keyaudit: 120000/1000000 entries (95000/s, 9 s left)" to stderr, over itself, at most
// every second, only when stderr is a terminal and `enabled` (keyaudit passes !--json), and only
// for runs of more than `threshold` entries: scripts and cron jobs get the report alone.
// finish() ends the line.
class Progress {
 public:
  explicit Progress(bool enabled, uint64_t threshold = 20000);
  void update(uint64_t done, uint64_t total);
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  uint64_t threshold_;
  bool enabled_;
  bool printed_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = start_;
};

}  // namespace escrowless::keyaudit
