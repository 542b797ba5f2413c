#include "audit/witness_policy.h"

#include <algorithm>
#include <charconv>
#include <functional>

#include "audit/error.h"
#include "audit/note.h"

namespace escrowless::audit {
namespace {

std::vector<std::string_view> split_items(std::string_view line) {
  std::vector<std::string_view> items;
  std::size_t at = 0;
  while (at < line.size()) {
    at = line.find_first_not_of(" \t", at);
    if (at == std::string_view::npos) break;
    const std::size_t end = std::min(line.find_first_of(" \t", at), line.size());
    items.push_back(line.substr(at, end - at));
    at = end;
  }
  return items;
}

class Parser {
 public:
  WitnessPolicy parse(std::string_view text) {
    std::size_t number = 0;
    while (!text.empty()) {
      const std::size_t newline = text.find('\n');
      std::string_view line = text.substr(0, newline);
      text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
      ++number;
      if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      try {
        parse_line(split_items(line));
      } catch (const Error& e) {
        throw invalid_input("policy line " + std::to_string(number) + ": " + e.what());
      }
    }
    if (!have_quorum_) throw invalid_input("policy: no quorum line");
    return std::move(policy_);
  }

 private:
  void parse_line(const std::vector<std::string_view>& items) {
    if (items.empty()) return;
    const std::string_view keyword = items[0];
    if (keyword == "log") {
      if (items.size() < 2 || items.size() > 3) throw invalid_input("expected 'log <vkey> [<url>]'");
      policy_.logs.push_back({parse_verifier_key(items[1]), items.size() == 3 ? std::string(items[2]) : ""});
    } else if (keyword == "witness") {
      if (items.size() < 3 || items.size() > 4) throw invalid_input("expected 'witness <name> <vkey> [<url>]'");
      define(items[1]);
      policy_.witnesses.push_back(
          {std::string(items[1]), parse_cosigner_key(items[2]), items.size() == 4 ? std::string(items[3]) : ""});
    } else if (keyword == "group") {
      if (items.size() < 4) throw invalid_input("expected 'group <name> all|any|<k> <member>...'");
      PolicyGroup group{std::string(items[1]), 0, {}};
      for (std::size_t i = 3; i < items.size(); ++i) {
        require_defined(items[i]);
        if (std::find(group.members.begin(), group.members.end(), items[i]) != group.members.end()) {
          throw invalid_input("group '" + group.name + "' names '" + std::string(items[i]) + "' twice");
        }
        group.members.emplace_back(items[i]);
      }
      group.threshold = threshold(items[2], group.members.size());
      define(items[1]);
      policy_.groups.push_back(std::move(group));
    } else if (keyword == "quorum") {
      if (items.size() != 2) throw invalid_input("expected 'quorum <name>'");
      if (have_quorum_) throw invalid_input("a second quorum line");
      require_defined(items[1]);
      policy_.quorum = std::string(items[1]);
      have_quorum_ = true;
    } else {
      throw invalid_input("unknown keyword '" + std::string(keyword.substr(0, 32)) + "'");
    }
  }

  static std::size_t threshold(std::string_view text, std::size_t members) {
    if (text == "all") return members;
    if (text == "any") return 1;
    std::size_t k = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), k);
    if (ec != std::errc() || end != text.data() + text.size() || text.starts_with('0') || k == 0 || k > members) {
      throw invalid_input("threshold '" + std::string(text.substr(0, 32)) + "' must be all, any or 1 to " +
                          std::to_string(members));
    }
    return k;
  }

  void define(std::string_view name) {
    if (name == "none") throw invalid_input("'none' is predefined");
    if (!names_.insert(std::string(name)).second) throw invalid_input("'" + std::string(name) + "' is defined twice");
  }

  void require_defined(std::string_view name) const {
    if (name != "none" && !names_.contains(std::string(name))) {
      throw invalid_input("'" + std::string(name.substr(0, 64)) + "' is not defined on a line before");
    }
  }

  WitnessPolicy policy_;
  std::set<std::string> names_;
  bool have_quorum_ = false;
};

}  // namespace

WitnessPolicy parse_witness_policy(std::string_view text) { return Parser().parse(text); }

QuorumResult evaluate_quorum(const WitnessPolicy& policy, const std::set<std::string>& cosigned) {
  QuorumResult result;
  if (policy.quorum == "none") {
    result.met = true;
    return result;
  }
  std::set<std::string> missing;
  // Names refer only to earlier lines, so this recursion ends.
  const std::function<bool(const std::string&)> met = [&](const std::string& name) {
    const auto group = std::find_if(policy.groups.begin(), policy.groups.end(),
                                    [&name](const PolicyGroup& g) { return g.name == name; });
    if (group == policy.groups.end()) {
      if (cosigned.contains(name)) return true;
      missing.insert(name);
      return false;
    }
    std::size_t count = 0;
    for (const std::string& member : group->members) count += met(member) ? 1 : 0;
    return count >= group->threshold;
  };
  result.met = met(policy.quorum);
  result.missing.assign(missing.begin(), missing.end());
  return result;
}

QuorumResult check_cosigned_checkpoint(const WitnessPolicy& policy, std::string_view signed_note, uint64_t now,
                                       uint64_t max_age_seconds) {
  const Note note = parse_note(signed_note);
  std::set<std::string> cosigned;
  for (const PolicyWitness& witness : policy.witnesses) {
    const std::optional<uint64_t> timestamp = verify_cosignature(note, witness.key);
    if (!timestamp) continue;
    const bool fresh = *timestamp <= now + 60 && (now < max_age_seconds || *timestamp >= now - max_age_seconds);
    if (fresh) cosigned.insert(witness.name);
  }
  return evaluate_quorum(policy, cosigned);
}

}  // namespace escrowless::audit
