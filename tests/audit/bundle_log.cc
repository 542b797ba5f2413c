#include "tests/audit/bundle_log.h"

#include <catch2/catch.hpp>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <chrono>
#include <set>

#include "audit/checkpoint.h"
#include "audit/ecdsa.h"
#include "audit/encoding.h"
#include "audit/merkle.h"
#include "audit/note.h"
#include "audit/prekey.h"
#include "audit/proof_shape.h"
#include "tests/audit/entry_examples.h"

namespace escrowless::audit::test {

using nlohmann::json;

std::vector<uint8_t> random_bytes(std::size_t size) {
  std::vector<uint8_t> bytes(size);
  REQUIRE(RAND_bytes(bytes.data(), static_cast<int>(size)) == 1);
  return bytes;
}

TestSigner::TestSigner(KeyAlgorithm algorithm)
    : algorithm_(algorithm),
      key_(algorithm == KeyAlgorithm::ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                               : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")) {
  REQUIRE(key_);
  public_key_.resize(raw_public_key_size(algorithm));
  std::size_t length = public_key_.size();
  if (algorithm == KeyAlgorithm::ed25519) {
    REQUIRE(EVP_PKEY_get_raw_public_key(key_.get(), public_key_.data(), &length) == 1);
  } else {
    REQUIRE(EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, public_key_.data(),
                                            public_key_.size(), &length) == 1);
  }
  REQUIRE(length == public_key_.size());
}

std::vector<uint8_t> TestSigner::sign(std::span<const uint8_t> message) const {
  const EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  REQUIRE(ctx);
  const bool ed25519 = algorithm_ == KeyAlgorithm::ed25519;
  REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, ed25519 ? nullptr : EVP_sha256(), nullptr, key_.get()) == 1);
  std::size_t length = 0;
  REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &length, message.data(), message.size()) == 1);
  std::vector<uint8_t> signature(length);
  REQUIRE(EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(), message.size()) == 1);
  signature.resize(length);
  return ed25519 ? signature : ecdsa_signature_der_to_raw(signature, 32);
}

BundleLog::BundleLog()
    : origin_("bundles.example.org/log"),
      log_key_(KeyAlgorithm::ed25519),
      verifier_(VerifierKey::create(origin_, SignatureType::ed25519, log_key_.public_key())) {
  // Something before the devices, so that their entries' proofs are not trivial.
  append(random_bytes(40));
  append(random_bytes(40));
}

void BundleLog::append(std::vector<uint8_t> entry) {
  leaves_.push_back(leaf_hash(entry));
  data_.push_back(std::move(entry));
}

TestDevice& BundleLog::enroll(const std::string& account, const std::string& device, KeyAlgorithm algorithm) {
  TestDevice& made = devices_.emplace_back(TestDevice{account, device, TestSigner(algorithm), 0, std::nullopt, {}, {}, {}});
  const TokenKey key{algorithm, random_bytes(16), account + "." + device, made.identity.public_key(),
                     softhsm_key_attributes()};
  made.enrolled_index = size();
  append(DeviceEnrolled{to_entry_time(std::chrono::system_clock::now()), account, device, Actor::admin(), key}.to_bytes());
  return made;
}

std::vector<uint8_t> BundleLog::sign_prekey(const TestDevice& device, PrekeyKind kind, uint32_t key_id,
                                            std::span<const uint8_t> public_key) {
  return device.identity.sign(prekey_signature_message(kind, device.account, device.device, key_id, public_key));
}

void BundleLog::upload(TestDevice& device, uint32_t one_time, uint32_t pq_one_time) {
  const auto signed_key = [&](PrekeyKind kind, uint32_t key_id) {
    std::vector<uint8_t> public_key = random_bytes(prekey_size(kind));
    std::vector<uint8_t> signature = sign_prekey(device, kind, key_id, public_key);
    return SignedPrekey{key_id, std::move(public_key), std::move(signature)};
  };
  const auto batch = [&](PrekeyKind kind, uint32_t first_id, uint32_t count) {
    std::vector<PrekeyBatchItem> items;
    for (uint32_t i = 0; i < count; ++i) {
      SignedPrekey key = signed_key(kind, first_id + i);
      items.push_back(PrekeyBatchItem{kind, key.key_id, std::move(key.public_key), std::move(key.signature)});
    }
    return items;
  };
  PrekeysSigned& entry = device.prekeys;
  entry = PrekeysSigned{};
  entry.time = to_entry_time(std::chrono::system_clock::now());
  entry.account = device.account;
  entry.device = device.device;
  entry.identity_key_sha256 = public_key_sha256(device.identity.algorithm(), device.identity.public_key());
  entry.signed_prekey = signed_key(PrekeyKind::signed_prekey, 1);
  entry.pq_last_resort_prekey = signed_key(PrekeyKind::pq_last_resort_prekey, 2);
  device.one_time = batch(PrekeyKind::one_time_prekey, 100, one_time);
  device.pq_one_time = batch(PrekeyKind::pq_one_time_prekey, 500, pq_one_time);
  if (one_time > 0) entry.one_time_prekeys = PrekeyBatch{one_time, prekey_batch_root(device.one_time)};
  if (pq_one_time > 0) entry.pq_one_time_prekeys = PrekeyBatch{pq_one_time, prekey_batch_root(device.pq_one_time)};
  device.prekeys_index = size();
  append(entry.to_bytes());
}

Hash BundleLog::root(uint64_t tree_size) const { return root_of(std::span(leaves_).first(tree_size)); }

std::vector<Hash> BundleLog::inclusion_proof(uint64_t index, uint64_t tree_size) const {
  std::vector<Hash> proof;
  for (const LeafRange& range : inclusion_proof_shape(index, tree_size)) {
    proof.push_back(root_of(std::span(leaves_).subspan(range.begin, range.size())));
  }
  return proof;
}

std::string BundleLog::checkpoint(uint64_t tree_size, const Hash& tree_root, const TestSigner& signer,
                                  const std::string& name) const {
  const std::string text = format_checkpoint(origin_, tree_size, tree_root);
  const uint32_t key_id = compute_key_id(name, SignatureType::ed25519, signer.public_key());
  return append_signature(text, format_signature_line(name, key_id, signer.sign(note_signed_message(text))));
}

std::string BundleLog::checkpoint() const { return checkpoint(size(), root(size()), log_key_, origin_); }

namespace {

json hashes_json(const std::vector<Hash>& hashes) {
  json list = json::array();
  for (const Hash& hash : hashes) list.push_back(to_base64(hash));
  return list;
}

json prekey_json(PrekeyKind kind, const SignedPrekey& key, uint64_t log_index) {
  return {{"kind", std::string(to_string(kind))},
          {"key_id", key.key_id},
          {"public_key", base64_encode(key.public_key)},
          {"signature", base64_encode(key.signature)},
          {"log_index", log_index}};
}

json batch_prekey_json(const std::vector<PrekeyBatchItem>& items, uint32_t index, uint64_t log_index) {
  const PrekeyBatchItem& item = items.at(index);
  json out = prekey_json(item.kind, SignedPrekey{item.key_id, item.public_key, item.signature}, log_index);
  out["batch"] = {{"index", index}, {"count", items.size()}, {"path", hashes_json(prekey_batch_proof(items, index))}};
  return out;
}

}  // namespace

json BundleLog::entry_json(uint64_t index) const {
  return {{"index", index}, {"data", base64_encode(data_.at(index))}, {"inclusion_proof", hashes_json(inclusion_proof(index, size()))}};
}

json BundleLog::response(const std::vector<const TestDevice*>& devices, uint32_t one_time_index) const {
  std::set<uint64_t> indices;
  json bundles = json::array();
  for (const TestDevice* device : devices) {
    json bundle = {{"account", device->account},
                   {"device_id", device->device},
                   {"identity_key",
                    {{"algorithm", std::string(to_string(device->identity.algorithm()))},
                     {"public_key", base64_encode(device->identity.public_key())},
                     {"enrolled_index", device->enrolled_index}}}};
    indices.insert(device->enrolled_index);
    if (device->prekeys_index) {
      const uint64_t at = *device->prekeys_index;
      indices.insert(at);
      bundle["signed_prekey"] = prekey_json(PrekeyKind::signed_prekey, *device->prekeys.signed_prekey, at);
      bundle["pq_prekey"] = one_time_index < device->pq_one_time.size()
                                ? batch_prekey_json(device->pq_one_time, one_time_index, at)
                                : prekey_json(PrekeyKind::pq_last_resort_prekey, *device->prekeys.pq_last_resort_prekey, at);
      if (one_time_index < device->one_time.size()) {
        bundle["one_time_prekey"] = batch_prekey_json(device->one_time, one_time_index, at);
      }
    }
    bundles.push_back(std::move(bundle));
  }
  json entries = json::array();
  for (const uint64_t index : indices) entries.push_back(entry_json(index));
  return {{"checkpoint", checkpoint()}, {"tree_size", size()}, {"bundles", bundles}, {"entries", entries}};
}

}  // namespace escrowless::audit::test
