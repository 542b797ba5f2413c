#include "audit/keyaudit/commands.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "audit/account_monitor.h"
#include "audit/client/https_client.h"
#include "audit/error.h"
#include "audit/keyaudit/also_seen.h"
#include "audit/keyaudit/log_sync.h"
#include "audit/keyaudit/parallel_audit.h"
#include "audit/keyaudit/report.h"
#include "audit/keyaudit/state_file.h"
#include "audit/log_auditor.h"
#include "audit/witness_quorum.h"

namespace escrowless::keyaudit {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kStateVersion = 1;

// --verifier-key takes the vkey itself, or a file whose first line is one.
audit::VerifierKey load_verifier_key(const std::string& value) {
  try {
    return audit::parse_verifier_key(value);
  } catch (const audit::Error& e) {
    std::ifstream in(value);
    std::string line;
    if (!in || !std::getline(in, line)) throw UsageError(std::string("--verifier-key is not a verifier key: ") + e.what());
    try {
      return audit::parse_verifier_key(line);
    } catch (const audit::Error& inner) {
      throw UsageError("--verifier-key file " + value + " does not hold a verifier key: " + inner.what());
    }
  }
}

// The --witness-policy and --max-age pair, loaded into `options` (which then points at `policy`).
void load_policy(const CommonOptions& options, std::optional<audit::WitnessPolicy>& policy, SyncOptions& sync) {
  if (options.witness_policy.empty()) {
    if (!options.max_age.empty()) throw UsageError("--max-age needs --witness-policy");
    return;
  }
  try {
    policy = audit::load_witness_policy(options.witness_policy);
    if (!options.max_age.empty()) sync.max_age = audit::parse_duration(options.max_age);
  } catch (const audit::Error& e) {
    throw UsageError(e.what());
  }
  sync.witness_policy = &*policy;
}

std::string source_of(const CommonOptions& options) { return options.tiles.empty() ? options.server : options.tiles; }

ClientFactory client_factory(const CommonOptions& options) {
  audit::client::ClientOptions client_options;
  if (!options.cacert.empty()) {
    if (!std::filesystem::exists(options.cacert)) throw UsageError("--cacert file " + options.cacert + " does not exist");
    client_options.ca_file = options.cacert;
  }
  if (options.server.empty() == options.tiles.empty()) throw UsageError("give either --server or --tiles");
  // Tiles are checked against the signed checkpoint whoever serves them, so a plain HTTP mirror
  // is as good as any; the API's answers are too, but its bearer credentials are not.
  const audit::client::ServerUrl url = options.tiles.empty() ? audit::client::ServerUrl::parse(options.server)
                                                             : audit::client::ServerUrl::parse(options.tiles, true);
  return [url, client_options] { return std::make_unique<audit::client::HttpsClient>(url, client_options); };
}

// The saved state, after checking it is this command's, for this log (and account).
std::optional<nlohmann::json> load_own_state(const CommonOptions& options, const std::string& command,
                                             const audit::VerifierKey& verifier, const std::string& account = {}) {
  if (options.state.empty()) return std::nullopt;
  auto state = load_state(options.state);
  if (!state) return std::nullopt;
  const auto field = [&](const char* name) -> std::string {
    if (!state->is_object() || !state->contains(name) || !(*state)[name].is_string()) return {};
    return (*state)[name].get<std::string>();
  };
  if (!state->is_object() || !state->contains("version") || (*state)["version"] != kStateVersion)
    throw UsageError("state file " + options.state + " is not a keyaudit state file of version 1");
  if (field("command") != command)
    throw UsageError("state file " + options.state + " belongs to keyaudit " + field("command") + ", not " + command);
  if (field("verifier_key") != verifier.to_string())
    throw UsageError("state file " + options.state + " belongs to the log of verifier key " + field("verifier_key"));
  if (field("account") != account)
    throw UsageError("state file " + options.state + " belongs to account '" + field("account") + "'");
  return state;
}

int finish(Report& report, const CommonOptions& options, const std::optional<VerifiedTree>& tree,
           const std::function<nlohmann::json()>& make_state) {
  if (report.ok() && tree && !options.state.empty()) {
    save_state(options.state, make_state());
    report.state_saved = true;
  }
  if (options.json) {
    std::cout << report.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << report.to_text();
  }
  return report.ok() ? 0 : 1;
}

void fill(Report& report, const SyncResult& sync, bool had_state, Clock::time_point start) {
  report.origin = sync.checkpoint.origin;
  report.size = sync.checkpoint.size;
  report.root = audit::to_base64(sync.checkpoint.root);
  report.checkpoint = sync.checkpoint_note;
  report.previous_size = sync.previous_size;
  report.had_state = had_state;
  report.new_entries = sync.fetched;
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // Log-wide violations (a forged checkpoint, a rewrite) first, then the entries' in index order.
  report.violations.insert(report.violations.begin(), sync.violations.begin(), sync.violations.end());
}

}  // namespace

int run_verify(const CommonOptions& options) {
  const auto start = Clock::now();
  const audit::VerifierKey verifier = load_verifier_key(options.verifier_key);
  const auto state = load_own_state(options, "verify", verifier);
  VerifiedTree previous;
  audit::LogAuditor::Options auditor_options{verifier.to_string(), /*defer_signatures=*/true};
  std::optional<audit::LogAuditor> auditor;
  try {
    if (state) {
      previous = VerifiedTree::from_json(state->at("tree"));
      auditor.emplace(audit::LogAuditor::from_json(state->at("auditor"), auditor_options));
      if (auditor->next_index() != previous.size) throw std::runtime_error("the auditor and the tree disagree on the size");
    } else {
      auditor.emplace(auditor_options);
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("state file " + options.state + ": " + e.what());
  }
  const ClientFactory connect = client_factory(options);

  Report report;
  report.command = "verify";
  report.server = source_of(options);
  Progress progress(!options.json);
  SyncOptions sync_options;
  sync_options.tiles = !options.tiles.empty();
  std::optional<audit::WitnessPolicy> policy;
  load_policy(options, policy, sync_options);
  sync_options.progress = [&](uint64_t done, uint64_t total) { progress.update(done, total); };
  sync_options.parse = true;
  const std::vector<SeenCheckpoint> seen = load_seen(options.also_seen, verifier);
  for (const SeenCheckpoint& other : seen) {
    if (other.checkpoint.size > previous.size) sync_options.record_roots.insert(other.checkpoint.size);
  }
  ParallelAudit auditing(*auditor, std::max(std::thread::hardware_concurrency(), 1U));
  const SyncResult sync = sync_log(
      connect, verifier, previous,
      [&](const FetchedEntry& entry) {
        if (entry.parsed) {
          auditing.audit(*entry.parsed);
        } else {
          auditing.audit_unparsable(std::string(entry.parse_error));
        }
      },
      sync_options);
  // Entry order; fill() puts the log-wide findings (no index) first.
  report.violations = auditing.finish();
  progress.finish();
  fill(report, sync, state.has_value(), start);
  nlohmann::json seen_details = nlohmann::json::array();
  if (!seen.empty() && sync.tree) {
    VerifiedView view{sync.checkpoint_note, sync.checkpoint, sync.roots};
    if (previous.size > 0) view.roots.emplace(previous.size, previous.root);
    ConsistencyProofs proofs;
    if (options.tiles.empty()) {
      proofs = [&connect](uint64_t from, uint64_t to) { return fetch_consistency_proof(*connect(), from, to); };
    }
    // Log-wide findings go first, as fill() puts the sync's.
    std::vector<audit::Violation> found = compare_seen(seen, view, proofs, seen_details);
    report.violations.insert(report.violations.begin(), found.begin(), found.end());
  }
  const audit::LogAuditor::Stats stats = auditor->stats();
  report.details = {{"devices", stats.devices},
                    {"revoked", stats.revoked},
                    {"signatures", stats.signatures},
                    {"inventories", stats.inventories},
                    {"private_keys", stats.inventory_keys},
                    {"proofs_of_possession", stats.proofs}};
  if (!seen.empty()) report.details["also_seen"] = seen_details;
  // The last inventory's remaining parts are not in the log yet: nothing about it is certified.
  if (const auto pending = auditor->incomplete_inventory()) report.details["incomplete_inventory_at"] = *pending;
  report.notes = auditor->notes();
  return finish(report, options, sync.tree, [&] {
    return nlohmann::json{{"version", kStateVersion}, {"command", "verify"}, {"server", source_of(options)},
                          {"verifier_key", verifier.to_string()}, {"tree", sync.tree->to_json()},
                          {"auditor", auditor->to_json()}};
  });
}

int run_monitor(const CommonOptions& options, const MonitorOptions& monitor_options) {
  const auto start = Clock::now();
  const audit::VerifierKey verifier = load_verifier_key(options.verifier_key);
  std::optional<audit::AccountExpectation> expectation;
  {
    std::ifstream in(monitor_options.expect);
    if (!in) throw UsageError("cannot read the expect file " + monitor_options.expect);
    std::stringstream text;
    text << in.rdbuf();
    try {
      expectation = audit::AccountExpectation::parse(nlohmann::json::parse(text.str()), monitor_options.account);
    } catch (const std::exception& e) {
      throw UsageError("expect file " + monitor_options.expect + ": " + e.what());
    }
  }
  const auto state = load_own_state(options, "monitor", verifier, monitor_options.account);
  VerifiedTree previous;
  if (state) {
    try {
      previous = VerifiedTree::from_json(state->at("tree"));
    } catch (const std::exception& e) {
      throw std::runtime_error("state file " + options.state + ": " + e.what());
    }
  }
  const ClientFactory connect = client_factory(options);
  audit::AccountMonitor monitor(std::move(*expectation));

  Report report;
  report.command = "monitor";
  report.server = source_of(options);
  Progress progress(!options.json);
  SyncOptions sync_options;
  sync_options.tiles = !options.tiles.empty();
  std::optional<audit::WitnessPolicy> policy;
  load_policy(options, policy, sync_options);
  sync_options.progress = [&](uint64_t done, uint64_t total) { progress.update(done, total); };
  sync_options.parse = true;
  const SyncResult sync = sync_log(
      connect, verifier, previous,
      [&](const FetchedEntry& entry) {
        for (audit::Violation& violation : entry.parsed ? monitor.check(entry.index, *entry.parsed)
                                                        : monitor.check(entry.index, entry.bytes)) {
          report.violations.push_back(std::move(violation));
        }
      },
      sync_options);
  progress.finish();
  fill(report, sync, state.has_value(), start);
  report.details = {{"account", monitor_options.account}, {"about_account", monitor.entries_about_account()}};
  return finish(report, options, sync.tree, [&] {
    return nlohmann::json{{"version", kStateVersion}, {"command", "monitor"}, {"server", source_of(options)},
                          {"account", monitor_options.account}, {"verifier_key", verifier.to_string()},
                          {"tree", sync.tree->to_json()}};
  });
}

}  // namespace escrowless::keyaudit
