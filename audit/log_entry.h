// Log entries: the leaves of the transparency log, one canonical JSON object each (see
// canonical_json.h and docs/log-format.md). The exact bytes are what the log stores, hashes
// (leaf = SHA-256(0x00 || bytes)) and serves, so there is one implementation of them: the
// server writes entries with to_bytes(), the auditor and clients read them with parse_entry().
//
// Both directions run the same checks. to_bytes() encodes and then parses its own output, so
// the server can't log an entry an auditor would refuse; parse_entry() refuses anything but
// the one canonical encoding of a valid entry. Errors are invalid_input, and their message
// names the entry type and the field: "device.enrolled: identity_key.public_key: Ed25519 keys
// are 32 bytes, got 31".
//
// Parsing checks form, not policy: an entry for a private key that is extractable parses fine;
// flagging it is the auditor's job (docs/log-format.md lists the rules).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "audit/entry_ids.h"
#include "audit/entry_time.h"
#include "audit/hash.h"
#include "audit/token_objects.h"

namespace escrowless::audit {

enum class EntryType {
  hsm_provisioned,
  device_enrolled,
  prekeys_signed,
  device_revoked,
  hsm_inventory
};

// "hsm.provisioned", "device.enrolled", "prekeys.signed", "device.revoked", "hsm.inventory".
std::string_view to_string(EntryType type) noexcept;

inline constexpr std::size_t kMaxMechanisms = 512;

// One mechanism the token offers (C_GetMechanismList / C_GetMechanismInfo), as logged.
struct TokenMechanism {
  uint64_t type = 0;  // CK_MECHANISM_TYPE; JSON "mechanism" as "0x" and 8 or more hex digits
  uint64_t min_key_size = 0;
  uint64_t max_key_size = 0;
  uint64_t flags = 0;  // CK_MECHANISM_INFO.flags, the raw CKF_* bits

  friend bool operator==(const TokenMechanism&, const TokenMechanism&) = default;
};

// Entry 0 of every log: the token and the log key that signs its checkpoints. JSON members
// "attestation" (always null, reserved for HSM vendor attestation) and "log_key.verifier_key"
// are derived, not stored.
struct HsmProvisioned {
  static constexpr EntryType kType = EntryType::hsm_provisioned;
  EntryTime time;
  std::string origin;  // the checkpoint origin line, also the note key name
  Token token;
  TokenKey log_key;
  // Schema 2 (JSON "schema": 2 and "mechanisms"): the token's mechanism list when the log was
  // made, the evidence keyaudit weighs forced capability flags against (docs/log-format.md 5.1
  // and 6). Absent in schema 1 entries, which logs made before it hold.
  std::optional<std::vector<TokenMechanism>> mechanisms;

  // The C2SP note verifier key of the log key under `origin`: type 0x01 with the raw key for
  // Ed25519, type 0x02 with the SPKI for P-256. Throws invalid_input if origin or key is invalid.
  std::string verifier_key() const;
  std::vector<uint8_t> to_bytes() const;
  friend bool operator==(const HsmProvisioned&, const HsmProvisioned&) = default;
};

struct DeviceEnrolled {
  static constexpr EntryType kType = EntryType::device_enrolled;
  EntryTime time;
  std::string account;
  std::string device;
  Actor enrolled_by;
  TokenKey identity_key;

  std::vector<uint8_t> to_bytes() const;
  friend bool operator==(const DeviceEnrolled&, const DeviceEnrolled&) = default;
};

inline constexpr std::size_t kX25519KeySize = 32;
inline constexpr std::size_t kMlKem768KeySize = 1184;
inline constexpr std::size_t kPrekeySignatureSize = 64;  // Ed25519, or P-256 raw r || s
inline constexpr uint32_t kMaxPrekeyBatch = 100;

// A prekey signed by the device's identity key in the token (message: docs/protocol.md).
struct SignedPrekey {
  uint32_t key_id = 0;
  std::vector<uint8_t> public_key;  // X25519: 32 bytes; ML-KEM-768: 1184 bytes
  std::vector<uint8_t> signature;   // 64 bytes

  friend bool operator==(const SignedPrekey&, const SignedPrekey&) = default;
};

// A batch of one-time prekeys, logged as the RFC 6962 Merkle root over its leaves.
struct PrekeyBatch {
  uint32_t count = 0;  // 1 to kMaxPrekeyBatch
  Hash root{};

  friend bool operator==(const PrekeyBatch&, const PrekeyBatch&) = default;
};

// At least one of the four optional members is present.
struct PrekeysSigned {
  static constexpr EntryType kType = EntryType::prekeys_signed;
  EntryTime time;
  std::string account;
  std::string device;
  Hash identity_key_sha256{};                 // the signing identity key's public_key_sha256
  std::optional<SignedPrekey> signed_prekey;  // X25519
  std::optional<SignedPrekey> pq_last_resort_prekey;  // ML-KEM-768
  std::optional<PrekeyBatch> one_time_prekeys;        // X25519
  std::optional<PrekeyBatch> pq_one_time_prekeys;     // ML-KEM-768

  std::vector<uint8_t> to_bytes() const;
  friend bool operator==(const PrekeysSigned&, const PrekeysSigned&) = default;
};

struct DeviceRevoked {
  static constexpr EntryType kType = EntryType::device_revoked;
  EntryTime time;
  std::string account;
  std::string device;
  Hash identity_key_sha256{};
  Actor revoked_by;

  std::vector<uint8_t> to_bytes() const;
  friend bool operator==(const DeviceRevoked&, const DeviceRevoked&) = default;
};

// One object of an inventory, as keyservice::inventory_json() prints it.
struct InventoryObject {
  ObjectClass object_class = ObjectClass::data;  // JSON "class"
  std::optional<KeyType> key_type;               // key classes (and vendor-defined) only
  std::vector<uint8_t> id;                       // CKA_ID, 0 to 64 bytes
  std::string label;                             // CKA_LABEL, 0 to 128 bytes of UTF-8
  Attributes flags;
  std::optional<Hash> public_key_sha256;  // public and private keys of our algorithms only
  // Schema 2, private keys only (JSON "proof", required there): the object's signature over
  // inventory_proof_message() (inventory_parts.h), 64 bytes; null (nullopt) when the object
  // would not sign. Always nullopt in schema 1 and for other classes.
  std::optional<std::vector<uint8_t>> proof;

  friend bool operator==(const InventoryObject&, const InventoryObject&) = default;
};

// Schema 1 (one entry holds the whole inventory): at most this many objects.
inline constexpr std::size_t kMaxInventoryObjects = 10000;
// Schema 2: an inventory of up to this many objects, in parts of at most kMaxPartEntrySize
// bytes each (the 16-bit length prefix of tlog-tiles entry bundles).
inline constexpr std::size_t kMaxInventoryObjectsV2 = 1000000;
inline constexpr std::size_t kMaxPartEntrySize = 65535;
inline constexpr std::size_t kInventoryIdSize = 16;

// The tree the service had signed when it took the inventory (JSON "checkpoint"): it binds the
// proofs of possession to the log. Size 0 with the empty root before the first checkpoint.
struct InventoryCheckpoint {
  uint64_t size = 0;
  Hash root{};

  friend bool operator==(const InventoryCheckpoint&, const InventoryCheckpoint&) = default;
};

// What only the first part of a schema 2 inventory carries (JSON "header").
struct InventoryHeader {
  uint64_t object_count = 0;  // objects in all parts together (JSON "objects")
  InventoryCheckpoint checkpoint;
  std::vector<TokenMechanism> mechanisms;  // the token's, in the order it listed them

  friend bool operator==(const InventoryHeader&, const InventoryHeader&) = default;
};

// Where a schema 2 entry sits in its inventory (JSON "inventory").
struct InventoryPart {
  std::array<uint8_t, kInventoryIdSize> id{};  // random, the same in every part
  uint32_t index = 0;                          // 0 to count - 1
  uint32_t count = 1;                          // parts in the inventory
  uint64_t first = 0;                          // position of objects[0] in the inventory
  std::optional<InventoryHeader> header;       // in part 0, and only there

  friend bool operator==(const InventoryPart&, const InventoryPart&) = default;
};

// Every object the token showed the service's login. JSON member "attestation" is always null.
// Schema 1 (part absent): the whole inventory in one entry. Schema 2 (part set, JSON "schema":
// 2): one part of an inventory that may span several entries (docs/log-format.md 5.5).
struct HsmInventory {
  static constexpr EntryType kType = EntryType::hsm_inventory;
  EntryTime time;
  Token token;
  std::vector<InventoryObject> objects;  // in the token's order
  std::optional<InventoryPart> part;

  std::vector<uint8_t> to_bytes() const;
  friend bool operator==(const HsmInventory&, const HsmInventory&) = default;
};

// Any entry. Build one as LogEntry{DeviceEnrolled{...}}; read one with std::get_if or visit.
struct LogEntry {
  std::variant<HsmProvisioned, DeviceEnrolled, PrekeysSigned, DeviceRevoked, HsmInventory> body;

  EntryType type() const noexcept;
  EntryTime time() const noexcept;

  // The canonical bytes. Throws invalid_input (naming type and field) if the entry is invalid.
  std::vector<uint8_t> to_bytes() const;

  friend bool operator==(const LogEntry&, const LogEntry&) = default;
};

// Parses and validates an entry (see the top of this file). Throws invalid_input otherwise.
LogEntry parse_entry(std::span<const uint8_t> bytes);
LogEntry parse_entry(std::string_view bytes);

}  // namespace escrowless::audit
