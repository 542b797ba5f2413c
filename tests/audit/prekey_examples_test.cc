// The prekeys.signed examples of docs/log-format.md hold real signatures over the
// docs/protocol.md messages and real batch roots: the batches behind them are in
// tests/data/entries/prekeys.signed-batches.json, signed by the example device key.
#include <catch2/catch.hpp>

#include <string>

#include "audit/encoding.h"
#include "audit/log_entry.h"
#include "audit/prekey.h"
#include "audit/prekey_batch.h"
#include "tests/audit/entry_examples.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using nlohmann::json;
using test::IsInvalidInput;
using test::IsMismatch;

namespace {

std::vector<PrekeyBatchItem> example_batch(const char* member, PrekeyKind kind) {
  static const json batches = test::load_json("entries/prekeys.signed-batches.json");
  std::vector<PrekeyBatchItem> items;
  for (const json& item : batches.at(member)) {
    items.push_back(PrekeyBatchItem{kind, item.at("key_id").get<uint32_t>(),
                                    base64_decode(item.at("public_key").get<std::string>()),
                                    base64_decode(item.at("signature").get<std::string>())});
  }
  return items;
}

const std::vector<uint8_t>& device_key() {
  static const std::vector<uint8_t> key = test::device_key().public_key;
  return key;
}

// Everything a client checks for each one-time prekey of a batch it is handed in a bundle.
void check_batch(const PrekeysSigned& entry, const PrekeyBatch& batch,
                 const std::vector<PrekeyBatchItem>& items) {
  REQUIRE(items.size() == batch.count);
  CHECK(prekey_batch_root(items) == batch.root);
  for (uint32_t index = 0; index < batch.count; ++index) {
    INFO("item " << index);
    const PrekeyBatchItem& item = items[index];
    const auto message = prekey_signature_message(item.kind, entry.account, entry.device,
                                                  item.key_id, item.public_key);
    CHECK(verify_prekey_signature(KeyAlgorithm::ed25519, device_key(), message, item.signature));
    CHECK_NOTHROW(verify_prekey_in_batch(item.kind, item.key_id, item.public_key, item.signature,
                                         index, batch.count, prekey_batch_proof(items, index),
                                         batch.root));
  }
}

}  // namespace

TEST_CASE("prekeys.signed examples: the signed members verify under the device key", "[vectors]") {
  for (const char* file : {"prekeys.signed.json", "prekeys.signed-full.json"}) {
    INFO(file);
    const LogEntry parsed = parse_entry(test::read_data_file(std::string("entries/") + file));
    const auto* entry = std::get_if<PrekeysSigned>(&parsed.body);
    REQUIRE(entry != nullptr);
    CHECK(entry->identity_key_sha256 == test::device_key().public_key_sha256());
    CHECK_NOTHROW(verify_prekeys_signed(*entry, KeyAlgorithm::ed25519, device_key()));
  }
  const PrekeysSigned full = test::example_prekeys_signed_full();
  REQUIRE(full.signed_prekey.has_value());
  REQUIRE(full.pq_last_resort_prekey.has_value());

  // The log key (RFC 8032 TEST 1) did not sign these, and is not the key the entry names.
  CHECK_THROWS_MATCHES(
      verify_prekeys_signed(full, KeyAlgorithm::ed25519, test::log_key().public_key), Error,
      IsMismatch());
  // An entry that names the log key: the hashes agree, the signatures don't.
  PrekeysSigned changed = full;
  changed.identity_key_sha256 = test::log_key().public_key_sha256();
  CHECK_THROWS_WITH(
      verify_prekeys_signed(changed, KeyAlgorithm::ed25519, test::log_key().public_key),
      "prekeys.signed: signed_prekey: signature does not verify under the identity key");
  changed = full;
  changed.account = "bob";
  CHECK_THROWS_MATCHES(verify_prekeys_signed(changed, KeyAlgorithm::ed25519, device_key()), Error,
                       IsMismatch());
  changed = full;
  changed.signed_prekey->key_id = 2;
  CHECK_THROWS_MATCHES(verify_prekeys_signed(changed, KeyAlgorithm::ed25519, device_key()), Error,
                       IsMismatch());
  changed = full;
  changed.pq_last_resort_prekey->public_key[1000] ^= 0x10;
  CHECK_THROWS_WITH(verify_prekeys_signed(changed, KeyAlgorithm::ed25519, device_key()),
                    "prekeys.signed: pq_last_resort_prekey: signature does not verify under the "
                    "identity key");
  // The signed prekey's signature replayed for the last-resort slot, and vice versa.
  changed = full;
  std::swap(changed.signed_prekey->signature, changed.pq_last_resort_prekey->signature);
  CHECK_THROWS_MATCHES(verify_prekeys_signed(changed, KeyAlgorithm::ed25519, device_key()), Error,
                       IsMismatch());
  // A malformed identity key is invalid input.
  CHECK_THROWS_MATCHES(
      verify_prekeys_signed(full, KeyAlgorithm::ed25519, std::span(device_key()).first(31)), Error,
      IsInvalidInput());
}

TEST_CASE("prekeys.signed examples: the batch roots are the roots of real batches", "[vectors]") {
  const PrekeysSigned entry = test::example_prekeys_signed();
  REQUIRE(entry.one_time_prekeys.has_value());
  REQUIRE(entry.pq_one_time_prekeys.has_value());
  check_batch(entry, *entry.one_time_prekeys,
              example_batch("one_time_prekeys", PrekeyKind::one_time_prekey));
  check_batch(entry, *entry.pq_one_time_prekeys,
              example_batch("pq_one_time_prekeys", PrekeyKind::pq_one_time_prekey));
  // A prekey of one batch does not prove into the other's root.
  const auto x25519 = example_batch("one_time_prekeys", PrekeyKind::one_time_prekey);
  CHECK_THROWS_MATCHES(
      verify_prekey_in_batch(PrekeyKind::one_time_prekey, x25519[0].key_id, x25519[0].public_key,
                             x25519[0].signature, 0, entry.one_time_prekeys->count,
                             prekey_batch_proof(x25519, 0), entry.pq_one_time_prekeys->root),
      Error, IsMismatch());
}
