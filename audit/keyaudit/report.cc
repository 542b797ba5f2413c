#include "audit/keyaudit/report.h"

#include <unistd.h>

#include <cstdio>
#include <sstream>

namespace escrowless::keyaudit {

nlohmann::json Report::to_json() const {
  nlohmann::json violations_json = nlohmann::json::array();
  for (const audit::Violation& violation : violations) violations_json.push_back(audit::to_json(violation));
  nlohmann::json notes_json = nlohmann::json::array();
  for (const audit::Violation& note : notes) notes_json.push_back(audit::to_json(note));
  return {{"command", command},
          {"server", server},
          {"ok", ok()},
          {"checkpoint", {{"origin", origin}, {"size", size}, {"root", root}, {"note", checkpoint}}},
          {"previous_size", had_state ? nlohmann::json(previous_size) : nlohmann::json(nullptr)},
          {"new_entries", new_entries},
          {"seconds", seconds},
          {"details", details},
          {"violations", violations_json},
          {"notes", notes_json},
          {"state_saved", state_saved}};
}

std::string Report::to_text() const {
  std::ostringstream out;
  out << "keyaudit " << command << " " << server << "\n";
  out << "  checkpoint   " << origin << " size " << size << " root " << root << " (signature verified)\n";
  if (had_state) {
    out << "  last run     size " << previous_size << (size > previous_size ? " (consistency checked)" : "") << "\n";
  } else {
    out << "  last run     none: the whole log was read\n";
  }
  out << "  new entries  " << new_entries;
  if (seconds > 0) out << " in " << static_cast<int64_t>(seconds * 1000) << " ms";
  out << "\n";
  for (const auto& [key, value] : details.items()) out << "  " << key << std::string(key.size() < 12 ? 12 - key.size() : 0, ' ') << " " << value.dump() << "\n";
  for (const audit::Violation& note : notes) {
    out << "  note: " << (note.index ? "entry " + std::to_string(*note.index) : std::string("log")) << " ["
        << note.rule << "] " << note.message << "\n";
  }
  if (ok()) {
    out << "OK: everything verified" << (state_saved ? "; state saved" : "") << "\n";
  } else {
    out << violations.size() << " violation" << (violations.size() == 1 ? "" : "s") << ":\n";
    for (const audit::Violation& violation : violations) {
      out << "  " << (violation.index ? "entry " + std::to_string(*violation.index) : std::string("log")) << " ["
          << violation.rule << "] " << violation.message << "\n";
    }
    out << "FAILED: state not saved\n";
  }
  return out.str();
}

Progress::Progress(bool enabled, uint64_t threshold)
    : threshold_(threshold), enabled_(enabled && ::isatty(STDERR_FILENO) == 1) {}

void Progress::update(uint64_t done, uint64_t total) {
  if (!enabled_ || total < threshold_) return;
  const auto now = Clock::now();
  if (now - last_ < std::chrono::seconds(1) && done < total) return;
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double left = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
  // Padded so a shorter line fully covers the one before it.
  std::fprintf(stderr, "\rkeyaudit: %llu/%llu entries (%.0f/s, %.0f s left)   ", static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total), rate, left);
  std::fflush(stderr);
  printed_ = true;
}

void Progress::finish() {
  if (printed_) std::fputs("\n", stderr);
  printed_ = false;
}

}  // namespace escrowless::keyaudit
