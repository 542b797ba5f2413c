// audit::verify_bundles against responses built by an in-memory log (bundle_log.h): genuine
// ones verify and come back typed; each mutation a server or a network attacker could make is
// refused with the error kind and the message naming it (one table, one probe per row).
#include <catch2/catch.hpp>

#include <functional>
#include <stdexcept>

#include "audit/bundle_verify.h"
#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/note.h"
#include "tests/audit/bundle_log.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using namespace escrowless::audit::test;
using nlohmann::json;

namespace {

std::string flip_base64(const std::string& text, std::size_t byte = 0) {
  std::vector<uint8_t> bytes = base64_decode(text);
  bytes.at(byte) ^= 0x01;
  return base64_encode(bytes);
}

VerifiedBundles verify(const json& response, const VerifierKey& verifier, BundleRequest request) {
  return verify_bundles(parse_bundles_response(response), verifier, request);
}

void check_prekey(const std::optional<VerifiedPrekey>& verified, const json& served) {
  REQUIRE(verified);
  CHECK(to_string(verified->kind) == served.at("kind").get<std::string>());
  CHECK(verified->key_id == served.at("key_id"));
  CHECK(base64_encode(verified->public_key) == served.at("public_key"));
  CHECK(base64_encode(verified->signature) == served.at("signature"));
  CHECK(verified->log_index == served.at("log_index"));
}

}  // namespace

TEST_CASE("bundle verify: genuine responses verify and come back typed", "[unit]") {
  const KeyAlgorithm algorithm = GENERATE(KeyAlgorithm::ed25519, KeyAlgorithm::ecdsa_p256);
  const uint32_t one_time_index = GENERATE(0u, 2u, 4u);  // pq one-time keys run out after 3
  INFO(to_string(algorithm) << ", one-time index " << one_time_index);
  BundleLog log;
  TestDevice& phone = log.enroll("alice", "phone", algorithm);
  TestDevice& laptop = log.enroll("alice", "laptop", algorithm);
  log.enroll("bob", "phone");
  log.upload(phone, 5, 3);
  log.append(random_bytes(10));

  const json one = log.response({&phone}, one_time_index);
  const VerifiedBundles verified = verify(one, log.verifier(), {"alice", "phone"});
  CHECK(verified.checkpoint.size == log.size());
  CHECK(verified.checkpoint.root == log.root(log.size()));
  CHECK(verified.checkpoint_note == one.at("checkpoint"));
  REQUIRE(verified.bundles.size() == 1);
  const VerifiedBundle& bundle = verified.bundles[0];
  CHECK(bundle.account == "alice");
  CHECK(bundle.device == "phone");
  CHECK(bundle.identity_algorithm == algorithm);
  CHECK(bundle.identity_public_key == phone.identity.public_key());
  CHECK(bundle.enrolled_index == phone.enrolled_index);
  const json& served = one.at("bundles")[0];
  check_prekey(bundle.signed_prekey, served.at("signed_prekey"));
  check_prekey(bundle.pq_prekey, served.at("pq_prekey"));
  check_prekey(bundle.one_time_prekey, served.at("one_time_prekey"));
  CHECK(bundle.pq_prekey->kind == (one_time_index < 3 ? PrekeyKind::pq_one_time_prekey : PrekeyKind::pq_last_resort_prekey));
  CHECK(bundle.one_time_prekey->key_id == 100 + one_time_index);

  // The account's bundles: a device without prekeys has an identity key and nothing else.
  const VerifiedBundles both = verify(log.response({&phone, &laptop}, one_time_index), log.verifier(), {"alice", {}});
  REQUIRE(both.bundles.size() == 2);
  CHECK(both.bundles[1].device == "laptop");
  CHECK_FALSE(both.bundles[1].signed_prekey);
  CHECK_FALSE(both.bundles[1].one_time_prekey);

  // The body overload reads the same.
  CHECK(verify_bundles(one.dump(), log.verifier(), {"alice", "phone"}).bundles[0].one_time_prekey->key_id ==
        bundle.one_time_prekey->key_id);
}

TEST_CASE("bundle verify: every mutation is refused naming the first failure", "[unit]") {
  BundleLog log;
  TestDevice& phone = log.enroll("alice", "phone");
  TestDevice& bob = log.enroll("bob", "laptop");
  log.upload(phone, 5, 3);
  log.upload(bob, 2, 0);
  log.append(random_bytes(10));
  const std::string enrolled = std::to_string(phone.enrolled_index);
  const std::string logged = std::to_string(*phone.prekeys_index);
  const TestSigner other_key(KeyAlgorithm::ed25519);

  struct Probe {
    std::string name;
    std::function<void(json& response)> mutate;
    std::string message;  // what the error says
    ErrorKind kind = ErrorKind::mismatch;
    BundleRequest request = {"alice", "phone"};
  };
  const auto bundle = [](json& r) -> json& { return r.at("bundles")[0]; };
  const auto entry = [](json& r, const std::string& index) -> json& {
    for (json& e : r.at("entries")) {
      if (std::to_string(e.at("index").get<uint64_t>()) == index) return e;
    }
    throw std::logic_error("no entry " + index);
  };
  // A fresh key of `kind`, correctly signed by the device's identity key but never logged.
  const auto unlogged_key = [&](json& key, PrekeyKind kind) {
    const std::vector<uint8_t> public_key = random_bytes(prekey_size(kind));
    key["public_key"] = base64_encode(public_key);
    key["signature"] = base64_encode(BundleLog::sign_prekey(phone, kind, key.at("key_id"), public_key));
  };

  const std::vector<Probe> probes = {
      // The checkpoint.
      {"checkpoint-signed-by-another-key",
       [&](json& r) { r["checkpoint"] = log.checkpoint(log.size(), log.root(log.size()), other_key, log.origin()); },
       "checkpoint: note: no signature from a known key"},
      {"checkpoint-with-another-root",
       [&](json& r) {
         Note note = parse_note(r.at("checkpoint").get<std::string>());
         const Hash other_root = log.root(log.size() - 1);
         note.text = format_checkpoint(log.origin(), log.size(), other_root);
         r["checkpoint"] = format_note(note);
       },
       "checkpoint: note: signature by " + log.origin()},
      {"checkpoint-of-another-root-signed-by-another-key-under-the-log-name",
       [&](json& r) {
         r["checkpoint"] = log.checkpoint(log.size(), log.root(log.size() - 1), other_key, log.origin());
       },
       "checkpoint: note: no signature from a known key"},
      {"tree-size-off-by-one", [&](json& r) { r["tree_size"] = log.size() - 1; },
       "checkpoint: its tree size " + std::to_string(log.size()) + " is not the response's tree_size"},
      {"checkpoint-not-a-note", [&](json& r) { r["checkpoint"] = "hello\n"; }, "checkpoint: note:", ErrorKind::invalid_input},
      // The entries' inclusion proofs.
      {"flipped-proof-byte",
       [&](json& r) {
         json& proof = entry(r, enrolled).at("inclusion_proof");
         proof[1] = flip_base64(proof[1].get<std::string>(), 7);
       },
       "entry " + enrolled + ": inclusion proof does not lead to the checkpoint's root"},
      {"flipped-entry-byte",
       [&](json& r) { entry(r, logged)["data"] = flip_base64(entry(r, logged).at("data").get<std::string>(), 30); },
       "entry " + logged + ": inclusion proof does not lead to the checkpoint's root"},
      {"proof-one-hash-short", [&](json& r) { entry(r, logged).at("inclusion_proof").erase(0); },
       "entry " + logged + ": inclusion proof: proof has", ErrorKind::invalid_input},
      {"entry-index-moved", [&](json& r) { entry(r, logged)["index"] = *phone.prekeys_index + 1; },
       "entry " + std::to_string(*phone.prekeys_index + 1) + ": inclusion proof does not lead"},
      {"entry-twice", [&](json& r) { r.at("entries").push_back(r.at("entries")[0]); }, "appears twice",
       ErrorKind::invalid_input},
      {"entry-left-out", [&](json& r) { r.at("entries").erase(0); },
       "device phone: identity key: log entry " + enrolled + " is not among the response's entries",
       ErrorKind::invalid_input},
      // The identity key and whose bundle it is.
      {"identity-key-swapped",
       [&](json& r) { bundle(r)["identity_key"]["public_key"] = base64_encode(other_key.public_key()); },
       "device phone: identity key: the bundle's key is not the one log entry " + enrolled + " logged"},
      {"identity-points-at-prekeys-entry",
       [&](json& r) { bundle(r)["identity_key"]["enrolled_index"] = *phone.prekeys_index; },
       "device phone: identity key: log entry " + logged + " is a prekeys.signed entry, not device.enrolled"},
      {"wrong-device-id", [&](json& r) { bundle(r)["device_id"] = "tablet"; },
       "device tablet: not the requested device phone"},
      {"wrong-device-id-in-account-fetch", [&](json& r) { bundle(r)["device_id"] = "tablet"; },
       "device tablet: identity key: log entry " + enrolled + " enrolls device phone of account alice",
       ErrorKind::mismatch, {"alice", {}}},
      {"another-account", [&](json& r) { bundle(r)["account"] = "bob"; },
       "device phone: a bundle of account bob, not the requested alice"},
      {"bundle-twice", [&](json& r) { r.at("bundles").push_back(r.at("bundles")[0]); },
       "device phone: two bundles in one response", ErrorKind::mismatch, {"alice", {}}},
      {"no-bundle", [&](json& r) { r.at("bundles").clear(); }, "the response holds 0 bundles, not the one of device phone"},
      // Signatures.
      {"swapped-signature-signed-prekey",
       [&](json& r) { bundle(r)["signed_prekey"]["signature"] = bundle(r)["one_time_prekey"]["signature"]; },
       "device phone: signed prekey 1: signature does not verify under the logged identity key"},
      {"swapped-signature-one-time",
       [&](json& r) { bundle(r)["one_time_prekey"]["signature"] = bundle(r)["signed_prekey"]["signature"]; },
       "device phone: one-time prekey 101: signature does not verify under the logged identity key"},
      {"key-id-changed", [&](json& r) { bundle(r)["signed_prekey"]["key_id"] = 7; },
       "device phone: signed prekey 7: signature does not verify"},
      {"flipped-prekey-byte",
       [&](json& r) {
         json& key = bundle(r)["pq_prekey"];
         key["public_key"] = flip_base64(key.at("public_key").get<std::string>(), 1000);
       },
       "device phone: one-time PQ prekey 501: signature does not verify"},
      // Prekeys the log does not hold.
      {"one-time-prekey-not-in-the-batch", [&](json& r) { unlogged_key(bundle(r)["one_time_prekey"], PrekeyKind::one_time_prekey); },
       "device phone: one-time prekey 101: batch path does not lead to the logged root"},
      {"pq-one-time-prekey-not-in-the-batch",
       [&](json& r) { unlogged_key(bundle(r)["pq_prekey"], PrekeyKind::pq_one_time_prekey); },
       "device phone: one-time PQ prekey 501: batch path does not lead to the logged root"},
      {"signed-prekey-not-logged", [&](json& r) { unlogged_key(bundle(r)["signed_prekey"], PrekeyKind::signed_prekey); },
       "device phone: signed prekey 1: not the signed_prekey that log entry " + logged + " logged"},
      {"flipped-batch-path-byte",
       [&](json& r) {
         json& path = bundle(r)["one_time_prekey"]["batch"]["path"];
         path[0] = flip_base64(path[0].get<std::string>());
       },
       "device phone: one-time prekey 101: batch path does not lead to the logged root"},
      {"batch-index-moved", [&](json& r) { bundle(r)["one_time_prekey"]["batch"]["index"] = 0; },
       "device phone: one-time prekey 101: batch path does not lead to the logged root"},
      {"batch-index-beyond-logged-count", [&](json& r) { bundle(r)["one_time_prekey"]["batch"]["index"] = 5; },
       "device phone: one-time prekey 101: prekey batch: index 5 is not below the batch size 5", ErrorKind::invalid_input},
      {"batch-count-lies-is-ignored",
       [&](json& r) { bundle(r)["one_time_prekey"]["batch"]["count"] = 4; },
       ""},
      {"prekey-in-another-devices-entry",
       [&](json& r) {
         r.at("entries").push_back(log.entry_json(*bob.prekeys_index));
         bundle(r)["one_time_prekey"]["log_index"] = *bob.prekeys_index;
       },
       "device phone: one-time prekey 101: log entry " + std::to_string(*bob.prekeys_index) +
           " logs prekeys of device laptop of account bob"},
      {"prekey-points-at-enrolled-entry", [&](json& r) { bundle(r)["signed_prekey"]["log_index"] = phone.enrolled_index; },
       "device phone: signed prekey 1: log entry " + enrolled + " is a device.enrolled entry, not prekeys.signed"},
      {"one-time-key-in-the-pq-slot", [&](json& r) { bundle(r)["one_time_prekey"] = bundle(r)["pq_prekey"]; },
       "device phone: one_time_prekey holds a pq_one_time_prekey"},
      // Malformed responses.
      {"identity-key-missing", [&](json& r) { bundle(r)["identity_key"].erase("public_key"); },
       "bundles[0].identity_key.public_key: missing", ErrorKind::invalid_input},
      {"bad-base64", [&](json& r) { bundle(r)["signed_prekey"]["signature"] = "!!"; },
       "bundles[0].signed_prekey.signature: not valid base64", ErrorKind::invalid_input},
      {"short-path-hash", [&](json& r) { bundle(r)["one_time_prekey"]["batch"]["path"][0] = "AAAA"; },
       "bundles[0].one_time_prekey.batch.path[0]: must be 32 bytes, got 3", ErrorKind::invalid_input},
      {"unknown-kind", [&](json& r) { bundle(r)["signed_prekey"]["kind"] = "escrow_key"; },
       "bundles[0].signed_prekey.kind: not a prekey kind", ErrorKind::invalid_input},
      {"bad-device-id", [&](json& r) { bundle(r)["device_id"] = "../admin"; },
       "bundles[0].device_id: \"../admin\" is not a valid id", ErrorKind::invalid_input},
      {"entries-not-an-array", [&](json& r) { r["entries"] = json::object(); }, "entries: must be an array",
       ErrorKind::invalid_input},
  };

  const json genuine = log.response({&phone}, 1);
  REQUIRE_NOTHROW(verify(genuine, log.verifier(), {"alice", "phone"}));
  for (const Probe& probe : probes) {
    DYNAMIC_SECTION(probe.name) {
      json response = genuine;
      probe.mutate(response);
      REQUIRE(response != genuine);
      if (probe.message.empty()) {
        CHECK_NOTHROW(verify(response, log.verifier(), probe.request));
        continue;
      }
      try {
        verify(response, log.verifier(), probe.request);
        FAIL("accepted");
      } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains(probe.message));
        CHECK(to_string(e.kind()) == std::string(to_string(probe.kind)));
      }
    }
  }
}

TEST_CASE("bundle verify: the verifier key is the client's, the request the client's", "[unit]") {
  BundleLog log;
  TestDevice& phone = log.enroll("alice", "phone");
  log.upload(phone, 1, 1);
  const json response = log.response({&phone});
  // Another log's key of the same name: the checkpoint proves nothing to it.
  const TestSigner other(KeyAlgorithm::ed25519);
  const VerifierKey stranger = VerifierKey::create(log.origin(), SignatureType::ed25519, other.public_key());
  CHECK_THROWS_MATCHES(verify(response, stranger, {"alice", "phone"}), Error, IsMismatch());
  // Asking for another device or account.
  CHECK_THROWS_WITH(verify(response, log.verifier(), {"alice", "tablet"}), Catch::Contains("not the requested device tablet"));
  CHECK_THROWS_WITH(verify(response, log.verifier(), {"carol", {}}), Catch::Contains("not the requested carol"));
  // Not JSON at all.
  CHECK_THROWS_MATCHES(verify_bundles(std::string_view("<html>"), log.verifier(), BundleRequest{"alice", {}}), Error,
                       IsInvalidInput());
}
