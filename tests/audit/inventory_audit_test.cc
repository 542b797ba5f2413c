// Schema 2 inventories: split into parts that fit tlog-tiles entry bundles, reassembled and
// checked by the auditor as one inventory, every private key proving possession. Each rule is
// broken once by a forged or altered part.
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <string>
#include <vector>

#include "audit/error.h"
#include "audit/log_auditor.h"
#include "tests/audit/inventory_examples.h"

using namespace escrowless::audit;
using namespace escrowless::audit::test;

namespace {

std::vector<LogEntry> base() {
  return {LogEntry{example_hsm_provisioned()}, LogEntry{example_device_enrolled()},
          LogEntry{example_prekeys_signed()}};
}

std::vector<LogEntry> with_parts(std::vector<LogEntry> entries, const std::vector<HsmInventory>& parts) {
  for (const HsmInventory& part : parts) entries.push_back(LogEntry{part});
  return entries;
}

std::vector<Violation> run(LogAuditor& auditor, const std::vector<LogEntry>& entries) {
  std::vector<Violation> found;
  for (const LogEntry& entry : entries) {
    for (Violation& violation : auditor.audit(entry.to_bytes())) found.push_back(std::move(violation));
  }
  return found;
}

std::vector<Violation> run(const std::vector<LogEntry>& entries) {
  LogAuditor auditor;
  return run(auditor, entries);
}

std::string rules_of(const std::vector<Violation>& found) {
  std::string text;
  for (const Violation& violation : found) {
    text += (text.empty() ? "" : " ") + violation.rule + "@" + std::to_string(violation.index.value_or(9999));
  }
  return text;
}

std::string messages_of(const std::vector<Violation>& found) {
  std::string text;
  for (const Violation& violation : found) text += violation.message + "\n";
  return text;
}

std::vector<uint8_t> random_ed25519_secret() {
  std::vector<uint8_t> secret(32);
  REQUIRE(RAND_bytes(secret.data(), 32) == 1);
  return secret;
}

// A whole inventory of the example token with `count` more private keys of the device's id
// and label, all padding to make it big; proofs recomputed for every position.
WholeInventory big_inventory(std::size_t extra_public_keys) {
  WholeInventory inventory = example_whole_inventory();
  InventoryObject filler = inventory.objects.back();  // a public key
  filler.label = std::string(120, 'x');
  for (std::size_t i = 0; i < extra_public_keys; ++i) inventory.objects.push_back(filler);
  return inventory;
}

}  // namespace

TEST_CASE("inventory parts: a large inventory splits into parts that each fit an entry bundle", "[unit]") {
  // ~3,000 objects of ~700 bytes: about 2 MB, as a token with 1,500 device keys lists.
  const WholeInventory whole = big_inventory(3000);
  const std::vector<HsmInventory> parts = split_inventory(whole);
  REQUIRE(parts.size() > 20);
  std::size_t objects = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::vector<uint8_t> bytes = parts[i].to_bytes();
    CHECK(bytes.size() <= kMaxPartEntrySize);
    if (i + 1 == parts.size()) break;
    CHECK(bytes.size() > kMaxPartEntrySize - 1000);  // full, but for the last
    REQUIRE(parts[i].part);
    CHECK(parts[i].part->index == i);
    CHECK(parts[i].part->count == parts.size());
    CHECK(parts[i].part->first == objects);
    CHECK(parts[i].part->header.has_value() == (i == 0));
    objects += parts[i].objects.size();
  }
  objects += parts.back().objects.size();
  CHECK(objects == whole.objects.size());

  LogAuditor auditor;
  const auto found = run(auditor, with_parts(base(), parts));
  CHECK(rules_of(found).empty());
  CHECK(auditor.stats().inventories == 1);
  CHECK(auditor.stats().proofs == 2);
  CHECK_FALSE(auditor.incomplete_inventory());
}

TEST_CASE("inventory parts: the example inventory is clean, and an empty one is one part", "[unit]") {
  const auto parts = example_inventory_parts();
  REQUIRE(parts.size() == 2);
  LogAuditor auditor(LogAuditor::Options{example_hsm_provisioned().verifier_key()});
  CHECK(rules_of(run(auditor, with_parts(base(), parts))).empty());
  CHECK(auditor.stats().proofs == 2);
  CHECK(auditor.stats().inventory_keys == 2);

  WholeInventory empty = example_whole_inventory();
  empty.objects.clear();
  const auto one = split_inventory(empty);
  REQUIRE(one.size() == 1);
  CHECK(one[0].objects.empty());
  CHECK(one[0].part->header->object_count == 0);
  CHECK(rules_of(run(with_parts(base(), one))).empty());
}

TEST_CASE("inventory parts: a part over 65,535 bytes is not a valid entry", "[unit]") {
  HsmInventory part = split_inventory(big_inventory(0)).front();
  InventoryObject filler = part.objects.back();
  filler.label = std::string(128, 'y');
  for (int i = 0; i < 200; ++i) part.objects.push_back(filler);
  part.part->header->object_count = part.objects.size();
  CHECK_THROWS_WITH(part.to_bytes(), Catch::Contains("a schema 2 inventory part is at most 65535 bytes"));
  // The same objects as a schema 1 entry are still valid (old logs stay readable).
  std::vector<InventoryObject> objects = part.objects;
  for (InventoryObject& object : objects) object.proof.reset();
  CHECK_NOTHROW(HsmInventory{part.time, part.token, objects, std::nullopt}.to_bytes());
}

TEST_CASE("inventory proofs: a forged, missing or foreign proof is a possession violation", "[unit]") {
  auto parts = example_inventory_parts();
  SECTION("a bit flipped in the device key's proof") {
    (*parts[0].objects[0].proof)[10] ^= 0x01;
    const auto found = run(with_parts(base(), parts));
    CHECK(rules_of(found) == "possession@3");
    CHECK_THAT(messages_of(found), Catch::Contains("claims to be the key of device alice/phone"));
  }
  SECTION("no proof (the object would not sign)") {
    parts[0].objects[1].proof.reset();
    const auto found = run(with_parts(base(), parts));
    CHECK(rules_of(found) == "possession@3");
    CHECK_THAT(messages_of(found), Catch::Contains("the log key but gave no proof"));
  }
  SECTION("a proof replayed from another position") {
    std::swap(parts[0].objects[0].proof, parts[0].objects[1].proof);
    CHECK(rules_of(run(with_parts(base(), parts))) == "possession@3 possession@3");
  }
  SECTION("a proof bound to another checkpoint") {
    WholeInventory whole = example_whole_inventory();
    whole.checkpoint.root[0] ^= 1;  // the header says this root; the proofs signed the real one
    parts = split_inventory(whole, 2100);
    CHECK(rules_of(run(with_parts(base(), parts))) == "possession@3 possession@3");
  }
}

TEST_CASE("inventory proofs: a twin private key planted on a device's id is caught", "[unit]") {
  // An attacker with the PIN makes a sign-only key with alice/phone's CKA_ID and label; the
  // inventory gives it the hash of the public key with that id, but it can't sign as that key.
  WholeInventory whole = example_whole_inventory();
  InventoryObject twin = whole.objects[0];
  const std::size_t position = whole.objects.size();
  twin.proof = ed25519_sign(random_ed25519_secret(),
                            inventory_proof_message(kOrigin, whole.checkpoint, whole.id, position));
  whole.objects.push_back(twin);
  const auto found = run(with_parts(base(), split_inventory(whole)));
  CHECK(rules_of(found) == "duplicate_id@3 possession@3");
  CHECK_THAT(messages_of(found), Catch::Contains("private key 'alice.phone' (id 6f7ff9b4982a6df42919c2698bdd5dea"));
  CHECK_THAT(messages_of(found), Catch::Contains("does not hold the key it claims"));
}

TEST_CASE("inventory parts: missing, reordered or inconsistent parts are violations", "[unit]") {
  const WholeInventory whole = big_inventory(300);
  const auto parts = split_inventory(whole);
  REQUIRE(parts.size() >= 3);
  SECTION("a part missing in the middle") {
    std::vector<HsmInventory> gap = parts;
    gap.erase(gap.begin() + 1);
    const auto found = run(with_parts(base(), gap));
    REQUIRE_FALSE(found.empty());
    CHECK(found.front().rule == "inventory");
    CHECK(found.front().index == 4);
    CHECK_THAT(found.front().message, Catch::Contains("without its earlier parts"));
  }
  SECTION("the last part never logged before the next inventory begins") {
    std::vector<HsmInventory> cut(parts.begin(), parts.end() - 1);
    std::vector<LogEntry> entries = with_parts(base(), cut);
    LogAuditor auditor;
    CHECK(rules_of(run(auditor, entries)).empty());
    CHECK(auditor.incomplete_inventory() == 3);  // pending: nothing certified yet
    CHECK(auditor.stats().inventories == 0);
    const auto next = split_inventory(example_whole_inventory());
    const auto found = run(auditor, {LogEntry{next[0]}});
    CHECK(rules_of(found) == "inventory@" + std::to_string(entries.size()));
    CHECK_THAT(messages_of(found), Catch::Contains("is incomplete"));
  }
  SECTION("a part that disagrees with the header's time") {
    std::vector<HsmInventory> changed = parts;
    changed[1].time = example_time("2026-11-28T00:00:00.000Z");
    CHECK_THAT(rules_of(run(with_parts(base(), changed))), Catch::StartsWith("inventory@4"));
  }
  SECTION("parts whose objects fall short of the header's count") {
    std::vector<HsmInventory> changed = parts;
    changed.back().objects.pop_back();
    CHECK(rules_of(run(with_parts(base(), changed))) == "inventory@" + std::to_string(2 + parts.size()));
  }
  SECTION("a checkpoint that is not before the inventory") {
    WholeInventory future = example_whole_inventory();
    future.checkpoint.size = 4;
    const auto found = run(with_parts(base(), split_inventory(future)));
    CHECK_THAT(rules_of(found), Catch::StartsWith("inventory@3"));
  }
  SECTION("a schema 1 inventory after a schema 2 one") {
    std::vector<LogEntry> entries = with_parts(base(), parts);
    entries.push_back(LogEntry{example_hsm_inventory()});
    const auto found = run(entries);
    CHECK(rules_of(found) == "inventory@" + std::to_string(entries.size() - 1));
  }
}

TEST_CASE("inventory parts: the auditor's state keeps a half-read inventory", "[unit]") {
  const auto parts = split_inventory(big_inventory(300));
  REQUIRE(parts.size() >= 3);
  LogAuditor first;
  run(first, with_parts(base(), {parts[0]}));
  const nlohmann::json state = first.to_json();
  LogAuditor resumed = LogAuditor::from_json(nlohmann::json::parse(state.dump()));
  CHECK(resumed.incomplete_inventory() == 3);
  std::vector<LogEntry> rest;
  for (std::size_t i = 1; i < parts.size(); ++i) rest.push_back(LogEntry{parts[i]});
  CHECK(rules_of(run(resumed, rest)).empty());
  CHECK(resumed.stats().inventories == 1);
  CHECK(resumed.stats().proofs == 2);
}

TEST_CASE("inventory entries: schema 2 fields are checked where they appear", "[unit]") {
  const auto refusal = [](const HsmInventory& part) {
    try {
      part.to_bytes();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const auto parts = example_inventory_parts();
  HsmInventory no_header = parts[0];
  no_header.part->header.reset();
  CHECK(refusal(no_header) == "hsm.inventory: header: missing (part 0 carries the header)");
  HsmInventory header_later = parts[1];
  header_later.part->header = parts[0].part->header;
  CHECK(refusal(header_later) == "hsm.inventory: header: only part 0 carries the header");
  HsmInventory proofless = parts[0];
  proofless.part.reset();
  CHECK(refusal(proofless) == "hsm.inventory: objects[0].proof: schema 1 inventories carry no proofs");
  HsmInventory public_proof = parts[1];
  public_proof.objects[0].proof = std::vector<uint8_t>(64, 1);
  CHECK_THAT(refusal(public_proof), Catch::Contains("only private keys carry a proof of possession"));
  HsmInventory past_end = parts[1];
  past_end.part->index = 2;
  CHECK_THAT(refusal(past_end), Catch::StartsWith("hsm.inventory: inventory.part: "));

  std::string text(reinterpret_cast<const char*>(parts[0].to_bytes().data()), parts[0].to_bytes().size());
  const std::string mechanism = "\"mechanism\":\"0x00001055\"";
  REQUIRE(text.find(mechanism) != std::string::npos);
  std::string uppercase = text;
  uppercase.replace(uppercase.find(mechanism), mechanism.size(), "\"mechanism\":\"0x00001O55\"");
  CHECK_THROWS_WITH(parse_entry(uppercase), Catch::Contains("header.mechanisms[0].mechanism"));
  std::string no_proof = text;
  const std::size_t proof = no_proof.find("\"proof\":\"");
  no_proof.replace(proof, no_proof.find('"', proof + 9) + 1 - proof, "\"proof\":null");
  CHECK(parse_entry(no_proof) != LogEntry{parts[0]});  // null is allowed: the auditor judges it
}

TEST_CASE("docs/log-format.md shows the example inventory's parts, leaf hashes and proof message", "[unit]") {
  const std::string docs = read_data_file("../../docs/log-format.md");
  for (const HsmInventory& part : example_inventory_parts()) {
    const std::vector<uint8_t> bytes = part.to_bytes();
    const std::string text(bytes.begin(), bytes.end());
    INFO(text);
    CHECK(docs.find("```json\n" + text + "\n```") != std::string::npos);
    CHECK(docs.find("leaf hash `" + to_hex(leaf_hash(text)) + "`") != std::string::npos);
  }
  const WholeInventory whole = example_whole_inventory();
  const std::vector<uint8_t> message = inventory_proof_message(kOrigin, whole.checkpoint, whole.id, 0);
  CHECK(docs.find("```\n" + std::string(message.begin(), message.end()) + "```") != std::string::npos);
}

// Prints what the test above looks for (hidden: run it by name to update the docs).
TEST_CASE("print the example inventory parts", "[.]") {
  for (const HsmInventory& part : example_inventory_parts()) {
    const std::vector<uint8_t> bytes = part.to_bytes();
    const std::string text(bytes.begin(), bytes.end());
    std::printf("%s\n%s\n", to_hex(leaf_hash(text)).c_str(), text.c_str());
  }
  std::printf("%s\n", to_hex(example_checkpoint().root).c_str());
}
