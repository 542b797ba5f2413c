// One valid entry of every type, built from typed values with published keys, so the expected
// bytes in tests/data/entries/ (and in docs/log-format.md) are the code's own output.
//
// Keys: the log key is RFC 8032 7.1 TEST 1's Ed25519 public key (or, for the ECDSA variant,
// RFC 6979 A.2.5's P-256 key); the device identity key is RFC 8032 TEST 2's; the X25519 prekey
// is RFC 7748 6.1's Alice; the ML-KEM-768 key is in tests/data/entries (see README there). The
// prekey signatures are Ed25519 signatures by the TEST 2 secret key over the docs/protocol.md
// messages, and the batch roots are the roots of the batches in
// tests/data/entries/prekeys.signed-batches.json (tests/audit/prekey_examples_test.cc checks
// both).
#pragma once

#include <chrono>
#include <string>

#include "audit/encoding.h"
#include "audit/hash.h"
#include "audit/log_entry.h"
#include "tests/audit/test_support.h"

namespace escrowless::audit::test {

inline constexpr std::string_view kLogKeyHex =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
inline constexpr std::string_view kLogKeyP256Hex =
    "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
    "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";
inline constexpr std::string_view kDeviceKeyHex =
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
inline constexpr std::string_view kX25519PrekeyHex =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
inline constexpr std::string_view kX25519SignatureHex =
    "a8e6e3345f9b28460d22e0acefd3b7683a0002f854945bec5edb312571032862"
    "766ca9ebf472bc81dac670ce97dfbedbbf20fbb7295dfa22d07a161dc5464b0c";
inline constexpr std::string_view kMlKemSignatureHex =
    "117e1b1d2515c29b428372617345a60f32fc46871a67f0be5690d204b680390e"
    "1f7f87349614184b844c2330395592e0fd5143f1d8f23e6a45454714d647c401";
// Roots of the 100 X25519 and 20 ML-KEM-768 one-time prekeys of prekeys.signed-batches.json.
inline constexpr std::string_view kOneTimeBatchRootHex =
    "7d1d86d900da7aa445a57ad7a92b849ba93fd685734dfa468dc7f9b9a79765aa";
inline constexpr std::string_view kPqOneTimeBatchRootHex =
    "40f8e3b915d36eca12a6642bd898ef0a885b233f4ab3db55c523d42d7e855fce";

inline constexpr std::string_view kOrigin = "keys.example.org/log";

inline std::vector<uint8_t> mlkem_public_key() {
  std::string text = read_data_file("entries/ml-kem-768-public-key.b64");
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return base64_decode(text);
}

inline EntryTime example_time(std::string_view text) { return parse_entry_time(text); }

inline Token example_token() {
  return Token{"escrowless", "SoftHSM project", "SoftHSM v2", "64fa0a2d462ddc24"};
}

// The flags SoftHSM 2.6 reports for a key pair keyadmin generated (keyadmin inventory).
inline KeyAttributes softhsm_key_attributes() {
  return KeyAttributes{
      {{"always_sensitive", true},
       {"copyable", false},
       {"decrypt", false},
       {"derive", false},
       {"destroyable", true},
       {"extractable", false},
       {"local", true},
       {"modifiable", false},
       {"never_extractable", true},
       {"private", true},
       {"sensitive", true},
       {"sign", true},
       {"sign_recover", false},
       {"token", true},
       {"unwrap", false},
       {"wrap_with_trusted", false}},
      {{"copyable", true},
       {"derive", false},
       {"destroyable", true},
       {"encrypt", false},
       {"local", true},
       {"modifiable", false},
       {"private", false},
       {"token", true},
       {"trusted", false},
       {"verify", true},
       {"verify_recover", false},
       {"wrap", false}},
  };
}

inline TokenKey log_key() {
  return TokenKey{KeyAlgorithm::ed25519, hex_decode("88044942a74867a77e1b6f45395d1c9c"), "log-key",
                  hex_decode(kLogKeyHex), softhsm_key_attributes()};
}

inline TokenKey device_key() {
  return TokenKey{KeyAlgorithm::ed25519, hex_decode("6f7ff9b4982a6df42919c2698bdd5dea"),
                  "alice.phone", hex_decode(kDeviceKeyHex), softhsm_key_attributes()};
}

inline HsmProvisioned example_hsm_provisioned() {
  return HsmProvisioned{example_time("2026-11-26T13:55:00.123Z"), std::string(kOrigin),
                        example_token(), log_key(), std::nullopt};
}

// Schema 2: with the mechanisms SoftHSM offers for Ed25519 keys (key pair generation, EdDSA),
// the list keyaudit weighs forced capability flags against.
inline HsmProvisioned example_hsm_provisioned_mechanisms() {
  HsmProvisioned entry = example_hsm_provisioned();
  entry.mechanisms = std::vector<TokenMechanism>{{0x1055, 255, 255, 0x10000}, {0x1057, 255, 255, 0x2800}};
  return entry;
}

// The same with a P-256 log key: verifier key type 0x02, holding the SPKI.
inline HsmProvisioned example_hsm_provisioned_ecdsa() {
  HsmProvisioned entry = example_hsm_provisioned();
  entry.log_key.algorithm = KeyAlgorithm::ecdsa_p256;
  entry.log_key.public_key = hex_decode(kLogKeyP256Hex);
  return entry;
}

inline DeviceEnrolled example_device_enrolled() {
  return DeviceEnrolled{example_time("2026-11-26T14:02:17.006Z"), "alice", "phone", Actor::admin(),
                        device_key()};
}

inline PrekeysSigned example_prekeys_signed() {
  PrekeysSigned entry;
  entry.time = example_time("2026-11-26T14:02:18.250Z");
  entry.account = "alice";
  entry.device = "phone";
  entry.identity_key_sha256 = device_key().public_key_sha256();
  entry.signed_prekey =
      SignedPrekey{1, hex_decode(kX25519PrekeyHex), hex_decode(kX25519SignatureHex)};
  entry.one_time_prekeys = PrekeyBatch{100, hash_from_hex(kOneTimeBatchRootHex)};
  entry.pq_one_time_prekeys = PrekeyBatch{20, hash_from_hex(kPqOneTimeBatchRootHex)};
  return entry;
}

// Every optional member, the ML-KEM-768 last-resort prekey included (too long for the docs).
inline PrekeysSigned example_prekeys_signed_full() {
  PrekeysSigned entry = example_prekeys_signed();
  entry.pq_last_resort_prekey =
      SignedPrekey{4294967295, mlkem_public_key(), hex_decode(kMlKemSignatureHex)};
  return entry;
}

inline DeviceRevoked example_device_revoked() {
  return DeviceRevoked{example_time("2027-01-05T09:30:00.000Z"), "alice", "phone",
                       device_key().public_key_sha256(), Actor::of_device("laptop")};
}

inline InventoryObject inventory_object(ObjectClass object_class, const TokenKey& key) {
  const bool is_private = object_class == ObjectClass::private_key;
  return InventoryObject{object_class,
                         KeyType::ec_edwards,
                         key.key_id,
                         key.label,
                         is_private ? key.attributes.private_key : key.attributes.public_key,
                         key.public_key_sha256(),
                         std::nullopt};
}

// What `keyadmin inventory` lists for a token holding the log key and one device key.
inline HsmInventory example_hsm_inventory() {
  return HsmInventory{example_time("2026-11-27T00:00:00.000Z"),
                      example_token(),
                      {inventory_object(ObjectClass::private_key, device_key()),
                       inventory_object(ObjectClass::private_key, log_key()),
                       inventory_object(ObjectClass::public_key, device_key()),
                       inventory_object(ObjectClass::public_key, log_key())},
                      std::nullopt};
}

struct Example {
  std::string file;  // under tests/data/entries/
  LogEntry entry;
  bool in_docs;  // shown in docs/log-format.md
};

inline std::vector<Example> examples() {
  return {
      {"hsm.provisioned.json", LogEntry{example_hsm_provisioned()}, true},
      {"hsm.provisioned-ecdsa.json", LogEntry{example_hsm_provisioned_ecdsa()}, false},
      {"hsm.provisioned-mechanisms.json", LogEntry{example_hsm_provisioned_mechanisms()}, true},
      {"device.enrolled.json", LogEntry{example_device_enrolled()}, true},
      {"prekeys.signed.json", LogEntry{example_prekeys_signed()}, true},
      {"prekeys.signed-full.json", LogEntry{example_prekeys_signed_full()}, false},
      {"device.revoked.json", LogEntry{example_device_revoked()}, true},
      {"hsm.inventory.json", LogEntry{example_hsm_inventory()}, true},
  };
}

}  // namespace escrowless::audit::test
