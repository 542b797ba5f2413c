#include "api/bundle_json.h"

#include <nlohmann/json.hpp>

#include <set>

#include "audit/encoding.h"
#include "audit/key_algorithm.h"
#include "audit/prekey.h"
#include "keyservice/error.h"

namespace escrowless::api {
namespace {

void append_base64(std::string& out, std::span<const std::uint8_t> bytes) {
  out += '"';
  out += audit::base64_encode(bytes);
  out += '"';
}

void append_number(std::string& out, std::uint64_t value) { out += std::to_string(value); }

void append_hashes(std::string& out, const std::vector<audit::Hash>& hashes) {
  out += '[';
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    if (i) out += ',';
    append_base64(out, hashes[i]);
  }
  out += ']';
}

// {"batch":{..},"key_id":..,"kind":..,"log_index":..,"public_key":..,"signature":..}: the members
// stored_prekey_json() used to build, in nlohmann's (sorted) order.
void write_prekey(std::string& out, const keyservice::StoredPrekey& key,
                  const std::vector<audit::Hash>& batch_path = {}) {
  out += '{';
  if (key.batch) {
    out += "\"batch\":{\"count\":";
    append_number(out, key.batch->count());
    out += ",\"index\":";
    append_number(out, key.batch->index);
    out += ",\"path\":";
    append_hashes(out, batch_path);
    out += "},";
  }
  out += "\"key_id\":";
  append_number(out, key.key.key_id);
  out += ",\"kind\":";
  append_json_string(out, audit::to_string(key.kind));
  out += ",\"log_index\":";
  append_number(out, key.log_index);
  out += ",\"public_key\":";
  append_base64(out, key.key.public_key);
  out += ",\"signature\":";
  append_base64(out, key.key.signature);
  out += '}';
}

// A signed or last-resort prekey (no batch).
std::string prekey_text(const keyservice::StoredPrekey& key) {
  std::string out;
  write_prekey(out, key);
  return out;
}

std::string device_key(const keyservice::Device& device) {
  std::string key = device.account;
  key += '\0';  // in no id
  key += device.device;
  return key;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      // Not plain ASCII: let nlohmann decide (UTF-8 as is, invalid bytes replaced).
      out += nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
  }
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::vector<audit::Hash> BundleJson::batch_path(const keyservice::StoredPrekey& key) {
  const keyservice::PrekeyBatchPosition& batch = *key.batch;
  const BatchId id{key.log_index, key.kind};  // one batch of a kind per prekeys.signed entry
  {
    const std::lock_guard lock(mutex_);
    if (const auto found = batches_.find(id); found != batches_.end()) {
      CachedBatch& cached = found->second;
      // The keys of one claim share their leaves: comparing pointers is enough for all but the
      // first key of each claim.
      if (cached.leaves == batch.leaf_hashes || cached.tree->leaves() == batch.leaves()) {
        cached.leaves = batch.leaf_hashes;
        return cached.tree->path(batch.index);
      }
    }
  }
  auto tree = std::make_shared<const audit::PrekeyBatchTree>(batch.leaves());
  std::vector<audit::Hash> path = tree->path(batch.index);
  const std::lock_guard lock(mutex_);
  if (batches_.size() >= kMaxBatches) batches_.clear();
  batches_[id] = {batch.leaf_hashes, std::move(tree)};
  return path;
}

void BundleJson::append_prekey(std::string& out, const keyservice::StoredPrekey& key) {
  if (key.batch) {
    write_prekey(out, key, batch_path(key));
  } else {
    write_prekey(out, key);
  }
}

std::shared_ptr<const BundleJson::DeviceParts> BundleJson::device_parts(const keyservice::Bundle& bundle) {
  const bool pq_last_resort = bundle.pq_prekey && bundle.pq_prekey->kind == audit::PrekeyKind::pq_last_resort_prekey;
  const std::string key = device_key(bundle.device);
  {
    const std::lock_guard lock(mutex_);
    if (const auto found = devices_.find(key); found != devices_.end()) {
      const DeviceParts& parts = *found->second;
      // Reused only if made of exactly what the store returned now.
      if (parts.device == bundle.device && parts.signed_prekey == bundle.signed_prekey &&
          (!pq_last_resort || parts.pq_prekey == bundle.pq_prekey)) {
        return found->second;
      }
    }
  }
  auto parts = std::make_shared<DeviceParts>();
  parts->device = bundle.device;
  std::string& out = parts->identity;
  out += "\"account\":";
  append_json_string(out, bundle.device.account);
  out += ",\"device_id\":";
  append_json_string(out, bundle.device.device);
  out += ",\"identity_key\":{\"algorithm\":";
  append_json_string(out, audit::to_string(bundle.device.algorithm));
  out += ",\"enrolled_index\":";
  append_number(out, bundle.device.enrolled_index);
  out += ",\"public_key\":";
  append_base64(out, bundle.device.public_key);
  out += '}';
  if (bundle.signed_prekey) {
    parts->signed_prekey = bundle.signed_prekey;
    parts->signed_json = prekey_text(*bundle.signed_prekey);
  }
  if (pq_last_resort) {
    parts->pq_prekey = bundle.pq_prekey;
    parts->pq_json = prekey_text(*bundle.pq_prekey);
  }
  const std::lock_guard lock(mutex_);
  if (devices_.size() >= kMaxDevices) devices_.clear();
  devices_[key] = parts;
  return parts;
}

std::shared_ptr<const BundleJson::EntryParts> BundleJson::entry_parts(std::uint64_t index, std::uint64_t tree_size) {
  std::shared_ptr<const EntryParts> cached;
  {
    const std::lock_guard lock(mutex_);
    if (const auto found = entries_.find(index); found != entries_.end()) cached = found->second;
  }
  if (cached && cached->proof_size == tree_size) return cached;
  auto parts = std::make_shared<EntryParts>();
  if (cached) {
    parts->data = cached->data;  // entries never change: only the proof is new
  } else {
    const std::string data = log_.entry(index);
    append_base64(parts->data, std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
  }
  parts->proof_size = tree_size;
  append_hashes(parts->proof, log_.inclusion_proof(index, tree_size));
  const std::lock_guard lock(mutex_);
  if (entries_.size() >= kMaxEntries) entries_.clear();
  // A proof against a smaller tree than the one stored was fetched with an older checkpoint.
  if (auto& slot = entries_[index]; !slot || slot->proof_size <= tree_size) slot = parts;
  return parts;
}

BundleJson::CacheSizes BundleJson::cache_sizes() const {
  const std::lock_guard lock(mutex_);
  return {devices_.size(), entries_.size(), batches_.size()};
}

std::string BundleJson::write(const std::vector<keyservice::Bundle>& bundles) {
  std::string out;
  out.reserve(2048 + 6144 * bundles.size());
  out += "{\"bundles\":[";
  std::set<std::uint64_t> indices;
  for (std::size_t i = 0; i < bundles.size(); ++i) {
    const keyservice::Bundle& bundle = bundles[i];
    const auto parts = device_parts(bundle);
    if (i) out += ',';
    out += '{';
    out += parts->identity;
    indices.insert(bundle.device.enrolled_index);
    if (bundle.one_time_prekey) {
      out += ",\"one_time_prekey\":";
      append_prekey(out, *bundle.one_time_prekey);
      indices.insert(bundle.one_time_prekey->log_index);
    }
    if (bundle.pq_prekey) {
      out += ",\"pq_prekey\":";
      if (bundle.pq_prekey->kind == audit::PrekeyKind::pq_last_resort_prekey) {
        out += parts->pq_json;
      } else {
        append_prekey(out, *bundle.pq_prekey);
      }
      indices.insert(bundle.pq_prekey->log_index);
    }
    if (bundle.signed_prekey) {
      out += ",\"signed_prekey\":";
      out += parts->signed_json;
      indices.insert(bundle.signed_prekey->log_index);
    }
    out += '}';
  }

  // With a witness policy, the newest cosigned checkpoint covering every entry named (see
  // TransparencyLog::head_covering for an entry newer than the cosigned checkpoint).
  const auto head = log_.head_covering(indices.empty() ? 0 : *indices.rbegin() + 1);
  if (!head) throw keyservice::Error(keyservice::ErrorKind::unavailable, "the log has no signed checkpoint yet");
  std::string note;
  {
    const std::lock_guard lock(mutex_);
    if (head_ != head) {
      note_json_.clear();
      append_json_string(note_json_, head->note);
      head_ = head;
    }
    note = note_json_;
  }
  out += "],\"checkpoint\":";
  out += note;
  out += ",\"entries\":[";
  bool first = true;
  for (const std::uint64_t index : indices) {
    const auto parts = entry_parts(index, head->size);
    if (!first) out += ',';
    first = false;
    out += "{\"data\":";
    out += parts->data;
    out += ",\"inclusion_proof\":";
    out += parts->proof;
    out += ",\"index\":";
    append_number(out, index);
    out += '}';
  }
  out += "],\"tree_size\":";
  append_number(out, head->size);
  out += '}';
  return out;
}

}  // namespace escrowless::api
