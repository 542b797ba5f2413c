// api::BundleJson against the nlohmann::json tree the bundle routes used to build and dump: the
// same bytes, also when what a cached piece was made of changes under it (a new prekey with the
// same key id and log index, a device enrolled again under the same id, a grown log).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <future>
#include <set>

#include "api/bundle_json.h"
#include "api/responses.h"
#include "audit/encoding.h"
#include "audit/key_algorithm.h"
#include "audit/prekey_batch.h"
#include "tests/keyservice/log_fixture.h"

namespace escrowless::testing {
namespace {

using nlohmann::json;
using keyservice::Bundle;
using keyservice::StoredPrekey;

// The former api/prekey_routes.cc bundles_json(), as the reference.
json reference_prekey(const StoredPrekey& key) {
  json out = {{"kind", std::string(audit::to_string(key.kind))},
              {"key_id", key.key.key_id},
              {"public_key", audit::base64_encode(key.key.public_key)},
              {"signature", audit::base64_encode(key.key.signature)},
              {"log_index", key.log_index}};
  if (key.batch) {
    out["batch"] = {{"index", key.batch->index}, {"count", key.batch->count()}, {"path", api::hashes_json(key.batch->path())}};
  }
  return out;
}

std::string reference(keyservice::TransparencyLog& log, const std::vector<Bundle>& bundles) {
  const auto head = log.signed_head();
  std::set<std::uint64_t> indices;
  json list = json::array();
  for (const Bundle& bundle : bundles) {
    json item = {{"account", bundle.device.account},
                 {"device_id", bundle.device.device},
                 {"identity_key",
                  {{"algorithm", std::string(audit::to_string(bundle.device.algorithm))},
                   {"public_key", audit::base64_encode(bundle.device.public_key)},
                   {"enrolled_index", bundle.device.enrolled_index}}}};
    indices.insert(bundle.device.enrolled_index);
    for (const auto& [name, key] : {std::pair{"signed_prekey", &bundle.signed_prekey},
                                    std::pair{"pq_prekey", &bundle.pq_prekey},
                                    std::pair{"one_time_prekey", &bundle.one_time_prekey}}) {
      if (!*key) continue;
      item[name] = reference_prekey(**key);
      indices.insert((*key)->log_index);
    }
    list.push_back(std::move(item));
  }
  json entries = json::array();
  for (const std::uint64_t index : indices) {
    const std::string data = log.entry(index);
    entries.push_back({{"index", index},
                       {"data", audit::base64_encode(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()))},
                       {"inclusion_proof", api::hashes_json(log.inclusion_proof(index, head->size))}});
  }
  const json body = {{"checkpoint", head->note}, {"tree_size", head->size}, {"bundles", list}, {"entries", entries}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<std::uint8_t> bytes(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(seed + i * 7);
  return out;
}

StoredPrekey prekey(audit::PrekeyKind kind, std::uint32_t key_id, std::uint64_t log_index, std::uint8_t seed) {
  return {kind, {key_id, bytes(audit::prekey_size(kind), seed), bytes(64, seed + 1)}, log_index, std::nullopt};
}

StoredPrekey one_time(audit::PrekeyKind kind, std::uint32_t key_id, std::uint64_t log_index, std::uint32_t index,
                      std::uint32_t count) {
  StoredPrekey key = prekey(kind, key_id, log_index, static_cast<std::uint8_t>(key_id));
  std::vector<audit::Hash> leaves(count);
  for (std::uint32_t i = 0; i < count; ++i) leaves[i].fill(static_cast<std::uint8_t>(i + 3));
  key.batch = keyservice::PrekeyBatchPosition{index, std::make_shared<const std::vector<audit::Hash>>(std::move(leaves))};
  return key;
}

Bundle bundle(const std::string& device, std::uint64_t enrolled_index, std::uint8_t seed) {
  Bundle b;
  b.device.account = "alice";
  b.device.device = device;
  b.device.algorithm = audit::KeyAlgorithm::ed25519;
  b.device.public_key = bytes(32, seed);
  b.device.enrolled_index = enrolled_index;
  return b;
}

struct Log {
  LogFixture fixture;
  std::unique_ptr<keyservice::TransparencyLog> log = fixture.open();
  Log() {
    for (int i = 0; i < 6; ++i) append(i);
  }
  ~Log() { log->stop(); }
  void append(int i) { log->append("entry " + std::to_string(i) + std::string(static_cast<std::size_t>(i), '\x01')).get(); }
};

}  // namespace

TEST_CASE("bundle json: strings are escaped as nlohmann escapes them", "[unit]") {
  for (const std::string& text : {std::string("plain"), std::string("a\"b\\c\nd\re\tf\bg\fh"),
                                 std::string("ctl \x01\x1f\x7f end", 10), std::string("note \xe2\x80\x94 dash"),
                                 std::string("bad \xff utf-8"), std::string()}) {
    std::string out;
    api::append_json_string(out, text);
    CHECK(out == json(text).dump(-1, ' ', false, json::error_handler_t::replace));
  }
}

TEST_CASE("bundle json: the body is the bytes the json tree gave and follows what changes", "[hsm]") {
  Log log;
  api::BundleJson writer(*log.log);
  using K = audit::PrekeyKind;

  Bundle last_resort = bundle("phone", 0, 1);
  last_resort.signed_prekey = prekey(K::signed_prekey, 1, 1, 10);
  last_resort.pq_prekey = prekey(K::pq_last_resort_prekey, 2, 1, 20);
  Bundle with_one_time = bundle("laptop", 2, 2);
  with_one_time.signed_prekey = prekey(K::signed_prekey, 1, 3, 30);
  with_one_time.pq_prekey = one_time(K::pq_one_time_prekey, 7, 4, 2, 5);
  with_one_time.one_time_prekey = one_time(K::one_time_prekey, 9, 4, 4, 5);
  const Bundle bare = bundle("tablet", 5, 3);  // no prekeys at all

  for (int round = 0; round < 2; ++round) {  // the second round is served from the caches
    CHECK(writer.write({last_resort}) == reference(*log.log, {last_resort}));
    CHECK(writer.write({with_one_time}) == reference(*log.log, {with_one_time}));
    CHECK(writer.write({last_resort, with_one_time, bare}) == reference(*log.log, {last_resort, with_one_time, bare}));
    CHECK(writer.write({}) == reference(*log.log, {}));
  }
  CHECK(json::parse(writer.write({last_resort})).at("bundles").at(0).at("pq_prekey").at("kind") ==
        "pq_last_resort_prekey");

  SECTION("a new key under the same key id and log index is served, not the cached one") {
    last_resort.signed_prekey->key.public_key = bytes(32, 99);
    last_resort.pq_prekey->key.signature = bytes(64, 98);
    const std::string body = writer.write({last_resort});
    CHECK(body == reference(*log.log, {last_resort}));
    CHECK(body.find(audit::base64_encode(bytes(32, 99))) != std::string::npos);
  }
  SECTION("new prekeys of a later upload and a lost last-resort key are served") {
    last_resort.signed_prekey = prekey(K::signed_prekey, 3, 4, 40);
    last_resort.pq_prekey.reset();
    CHECK(writer.write({last_resort}) == reference(*log.log, {last_resort}));
  }
  SECTION("a different device under the same id is served") {
    Bundle other = bundle("phone", 2, 50);
    other.signed_prekey = last_resort.signed_prekey;
    other.pq_prekey = last_resort.pq_prekey;
    CHECK(writer.write({other}) == reference(*log.log, {other}));
  }
  SECTION("another batch under the same entry and kind gives its own path") {
    Bundle other = with_one_time;
    auto leaves = other.one_time_prekey->batch->leaves();
    leaves[1].fill(0xee);
    other.one_time_prekey->batch->leaf_hashes = std::make_shared<const std::vector<audit::Hash>>(std::move(leaves));
    CHECK(writer.write({other}) == reference(*log.log, {other}));
    CHECK(writer.write({with_one_time}) == reference(*log.log, {with_one_time}));
    // Equal leaves held elsewhere (another claim of the same batch) give the same path.
    Bundle copy = with_one_time;
    copy.one_time_prekey->batch->leaf_hashes =
        std::make_shared<const std::vector<audit::Hash>>(with_one_time.one_time_prekey->batch->leaves());
    CHECK(writer.write({copy}) == reference(*log.log, {with_one_time}));
  }
  SECTION("a grown log gives the new checkpoint and proofs against it") {
    const std::string before = writer.write({last_resort, with_one_time});
    log.append(6);
    log.append(7);
    const std::string after = writer.write({last_resort, with_one_time});
    CHECK(after == reference(*log.log, {last_resort, with_one_time}));
    CHECK(after != before);
    CHECK(json::parse(after).at("tree_size") == 8);
  }
}

TEST_CASE("bundle json: the caches stay bounded and right past their limits", "[hsm]") {
  using Limits = api::BundleJson;
  // Past every limit: each bundle names a new device, a new entry and a new batch.
  const std::size_t n = Limits::kMaxEntries + 3;
  static_assert(Limits::kMaxEntries >= Limits::kMaxDevices && Limits::kMaxEntries >= Limits::kMaxBatches);
  Log log;
  {
    std::vector<std::future<keyservice::Receipt>> appended;
    for (std::size_t i = 6; i < n; ++i) appended.push_back(log.log->append("entry " + std::to_string(i)));
    for (auto& receipt : appended) receipt.get();
  }
  api::BundleJson writer(*log.log);
  std::vector<Bundle> sample;
  api::BundleJson::CacheSizes most;
  for (std::size_t i = 0; i < n; ++i) {
    Bundle b = bundle("d" + std::to_string(i), i, static_cast<std::uint8_t>(i));
    b.signed_prekey = prekey(audit::PrekeyKind::signed_prekey, 1, i, static_cast<std::uint8_t>(i + 1));
    b.one_time_prekey = one_time(audit::PrekeyKind::one_time_prekey, static_cast<std::uint32_t>(i + 2), i, 1, 3);
    writer.write({b});
    const api::BundleJson::CacheSizes now = writer.cache_sizes();
    most = {std::max(most.devices, now.devices), std::max(most.entries, now.entries),
            std::max(most.batches, now.batches)};
    if (i % 1000 == 0 || i + 1 == n) sample.push_back(std::move(b));
  }
  // Each cache filled up to its limit and never beyond.
  CHECK(most.devices == Limits::kMaxDevices);
  CHECK(most.entries == Limits::kMaxEntries);
  CHECK(most.batches == Limits::kMaxBatches);
  // What was dropped is made again, the same.
  CHECK(writer.write(sample) == reference(*log.log, sample));
}

}  // namespace escrowless::testing
