// The auditor's state as JSON (the "auditor" member of keyaudit's state file):
//   {"version": 1, "next_index": n, "provisioned": bool, "reported_unprovisioned": bool,
//    "origin": s, "verifier_key": s, "token": {"label","manufacturer","model","serial"},
//    "log_key_sha256": hex, "devices": [{"name": "account/device", "algorithm": s,
//    "public_key": base64, "enrolled": n, "revoked": n or null}, ...], "stats": {...}}
//    "log_key": {"algorithm": s, "public_key": base64} (version 2), "schema2_inventories": bool,
//    "pending_inventory": null or {...} (version 2: a schema 2 inventory not yet complete),
//    "mechanisms": {"index": n, "list": [[type, min, max, flags], ...]} (version 2, optional:
//    the newest mechanism list logged for the token; absent when none was)}
// Key hashes are recomputed from the keys on load rather than trusted from the file. Version 1
// states (written before inventories had parts) still load.
#include <algorithm>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/log_auditor_state.h"

namespace escrowless::audit {
namespace {

constexpr int kStateVersion = 2;

nlohmann::json token_json(const Token& token) {
  return {{"label", token.label}, {"manufacturer", token.manufacturer}, {"model", token.model}, {"serial", token.serial}};
}

Token token_from(const nlohmann::json& json) {
  return {json.at("label").get<std::string>(), json.at("manufacturer").get<std::string>(),
          json.at("model").get<std::string>(), json.at("serial").get<std::string>()};
}

nlohmann::json mechanisms_json(const std::vector<TokenMechanism>& list) {
  nlohmann::json mechanisms = nlohmann::json::array();
  for (const TokenMechanism& m : list) mechanisms.push_back({m.type, m.min_key_size, m.max_key_size, m.flags});
  return mechanisms;
}

std::vector<TokenMechanism> mechanisms_from(const nlohmann::json& json) {
  std::vector<TokenMechanism> list;
  for (const nlohmann::json& m : json) {
    list.push_back({m.at(0).get<uint64_t>(), m.at(1).get<uint64_t>(), m.at(2).get<uint64_t>(), m.at(3).get<uint64_t>()});
  }
  return list;
}

nlohmann::json pending_json(const PendingInventory& p) {
  nlohmann::json ids = nlohmann::json::array();
  for (const std::vector<uint8_t>& id : p.private_ids) ids.push_back(hex_encode(id));
  nlohmann::json mechanisms = mechanisms_json(p.mechanisms);
  return {{"header_index", p.header_index}, {"id", hex_encode(p.id)}, {"count", p.count},
          {"next_part", p.next_part}, {"next_position", p.next_position}, {"object_count", p.object_count},
          {"time", format_entry_time(p.time)}, {"token", token_json(p.token)},
          {"checkpoint", {p.checkpoint.size, to_hex(p.checkpoint.root)}},
          {"mechanisms", std::move(mechanisms)}, {"private_ids", std::move(ids)}};
}

PendingInventory pending_from(const nlohmann::json& json) {
  PendingInventory p;
  p.header_index = json.at("header_index").get<uint64_t>();
  const std::vector<uint8_t> id = hex_decode(json.at("id").get<std::string>());
  if (id.size() != p.id.size()) throw invalid_input("pending_inventory.id has the wrong size");
  std::copy(id.begin(), id.end(), p.id.begin());
  p.count = json.at("count").get<uint32_t>();
  p.next_part = json.at("next_part").get<uint32_t>();
  p.next_position = json.at("next_position").get<uint64_t>();
  p.object_count = json.at("object_count").get<uint64_t>();
  p.time = parse_entry_time(json.at("time").get<std::string>());
  p.token = token_from(json.at("token"));
  p.checkpoint.size = json.at("checkpoint").at(0).get<uint64_t>();
  p.checkpoint.root = hash_from_bytes(hex_decode(json.at("checkpoint").at(1).get<std::string>()), "root");
  p.mechanisms = mechanisms_from(json.at("mechanisms"));
  for (const nlohmann::json& item : json.at("private_ids")) p.private_ids.insert(hex_decode(item.get<std::string>()));
  return p;
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
      {"log_key", {{"algorithm", std::string(to_string(s.log_key_algorithm))}, {"public_key", base64_encode(s.log_key)}}},
      {"schema2_inventories", s.schema2_inventories},
      {"pending_inventory", s.pending_inventory ? pending_json(*s.pending_inventory) : nlohmann::json(nullptr)},
      {"stats",
       {{"devices", s.stats.devices},
        {"revoked", s.stats.revoked},
        {"signatures", s.stats.signatures},
        {"inventories", s.stats.inventories},
        {"inventory_keys", s.stats.inventory_keys},
        {"proofs", s.stats.proofs}}},
  };
  if (s.mechanisms) state["mechanisms"] = {{"index", s.mechanisms->index}, {"list", mechanisms_json(s.mechanisms->list)}};
  return state;
}

LogAuditor LogAuditor::from_json(const nlohmann::json& json, Options options) {
  auto state = std::make_unique<State>();
  try {
    const int version = json.at("version").get<int>();
    if (version != 1 && version != kStateVersion) throw invalid_input("unsupported auditor state version");
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
                    stats.at("inventory_keys").get<uint64_t>(), stats.value("proofs", uint64_t{0})};
    if (version >= 2) {
      const nlohmann::json& log_key = json.at("log_key");
      state->log_key_algorithm = parse_key_algorithm(log_key.at("algorithm").get<std::string>());
      state->log_key = base64_decode(log_key.at("public_key").get<std::string>());
      if (state->provisioned && public_key_sha256(state->log_key_algorithm, state->log_key) != state->log_key_hash) {
        throw invalid_input("log_key does not match log_key_sha256");
      }
      state->schema2_inventories = json.at("schema2_inventories").get<bool>();
      if (!json.at("pending_inventory").is_null()) state->pending_inventory = pending_from(json.at("pending_inventory"));
      if (json.contains("mechanisms")) {
        const nlohmann::json& logged = json.at("mechanisms");
        state->mechanisms = LoggedMechanisms{logged.at("index").get<uint64_t>(), mechanisms_from(logged.at("list"))};
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw invalid_input(std::string("malformed auditor state: ") + e.what());
  } catch (const Error& e) {
    throw invalid_input(std::string("malformed auditor state: ") + e.what());
  }
  return LogAuditor(std::move(state));
}

}  // namespace escrowless::audit
