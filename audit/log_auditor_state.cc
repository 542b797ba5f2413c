// The auditor's state as JSON (the "auditor" member of keyaudit's state file):
//   {"version": 1, "next_index": n, "provisioned": bool, "reported_unprovisioned": bool,
//    "origin": s, "verifier_key": s, "token": {"label","manufacturer","model","serial"},
//    "log_key_sha256": hex, "devices": [{"name": "account/device", "algorithm": s,
//    "public_key": base64, "enrolled": n, "revoked": n or null}, ...], "stats": {...}}
// Key hashes are recomputed from the keys on load rather than trusted from the file.
#include <algorithm>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/log_auditor_state.h"

namespace escrowless::audit {
namespace {

constexpr int kStateVersion = 1;

nlohmann::json token_json(const Token& token) {
  return {{"label", token.label}, {"manufacturer", token.manufacturer}, {"model", token.model}, {"serial", token.serial}};
}

Token token_from(const nlohmann::json& json) {
  return {json.at("label").get<std::string>(), json.at("manufacturer").get<std::string>(),
          json.at("model").get<std::string>(), json.at("serial").get<std::string>()};
}

}  // namespace

nlohmann::json LogAuditor::to_json() const {
  const State& s = *state_;
  nlohmann::json devices = nlohmann::json::array();
  // In enrollment order, so a resumed auditor rebuilds key ownership exactly as it was.
  std::vector<std::pair<const std::string*, const DeviceRecord*>> ordered;
  ordered.reserve(s.devices.size());
  for (const auto& [name, device] : s.devices) ordered.emplace_back(&name, &device);
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.second->enrolled_index < b.second->enrolled_index; });
  for (const auto& [name, device] : ordered) {
    devices.push_back({{"name", *name},
                       {"algorithm", std::string(to_string(device->algorithm))},
                       {"public_key", base64_encode(device->public_key)},
                       {"enrolled", device->enrolled_index},
                       {"revoked", device->revoked_index ? nlohmann::json(*device->revoked_index) : nlohmann::json(nullptr)}});
  }
  nlohmann::json state = {
      {"version", kStateVersion},
      {"next_index", s.next_index},
      {"provisioned", s.provisioned},
      {"reported_unprovisioned", s.reported_unprovisioned},
      {"origin", s.origin},
      {"verifier_key", s.verifier_key},
      {"token", token_json(s.token)},
      {"log_key_sha256", to_hex(s.log_key_hash)},
      {"devices", std::move(devices)},
      {"stats",
       {{"devices", s.stats.devices},
        {"revoked", s.stats.revoked},
        {"signatures", s.stats.signatures},
        {"inventories", s.stats.inventories},
        {"inventory_keys", s.stats.inventory_keys}}},
  };
  return state;
}

LogAuditor LogAuditor::from_json(const nlohmann::json& json, Options options) {
  auto state = std::make_unique<State>();
  try {
    if (json.at("version").get<int>() != kStateVersion) throw invalid_input("unsupported auditor state version");
    state->options = std::move(options);
    state->next_index = json.at("next_index").get<uint64_t>();
    state->provisioned = json.at("provisioned").get<bool>();
    state->reported_unprovisioned = json.at("reported_unprovisioned").get<bool>();
    state->origin = json.at("origin").get<std::string>();
    state->verifier_key = json.at("verifier_key").get<std::string>();
    state->token = token_from(json.at("token"));
    state->log_key_hash = hash_from_bytes(hex_decode(json.at("log_key_sha256").get<std::string>()), "log_key_sha256");
    if (state->provisioned) {
      const std::string& pinned = state->options.expected_verifier_key;
      if (!pinned.empty() && pinned != state->verifier_key) {
        throw invalid_input("the auditor state belongs to log key " + state->verifier_key + ", not " + pinned);
      }
      state->key_owners.emplace(state->log_key_hash, std::string());
    }
    for (const nlohmann::json& item : json.at("devices")) {
      DeviceRecord device;
      device.algorithm = parse_key_algorithm(item.at("algorithm").get<std::string>());
      device.public_key = base64_decode(item.at("public_key").get<std::string>());
      device.key_hash = public_key_sha256(device.algorithm, device.public_key);
      device.enrolled_index = item.at("enrolled").get<uint64_t>();
      if (!item.at("revoked").is_null()) device.revoked_index = item.at("revoked").get<uint64_t>();
      const std::string name = item.at("name").get<std::string>();
      state->key_owners.emplace(device.key_hash, name);
      if (!state->devices.emplace(name, std::move(device)).second) throw invalid_input("device " + name + " twice");
    }
    const nlohmann::json& stats = json.at("stats");
    state->stats = {stats.at("devices").get<uint64_t>(), stats.at("revoked").get<uint64_t>(),
                    stats.at("signatures").get<uint64_t>(), stats.at("inventories").get<uint64_t>(),
                    stats.at("inventory_keys").get<uint64_t>()};
  } catch (const nlohmann::json::exception& e) {
    throw invalid_input(std::string("malformed auditor state: ") + e.what());
  } catch (const Error& e) {
    throw invalid_input(std::string("malformed auditor state: ") + e.what());
  }
  return LogAuditor(std::move(state));
}

}  // namespace escrowless::audit
