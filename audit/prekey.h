// Prekey signatures (docs/protocol.md section 1): the service signs every prekey a device
// uploads with that device's identity key inside the token, over a domain-separated binary
// message; clients and auditors check those signatures here.
//
// Message: every field is a 2-byte big-endian length followed by its bytes, in this order:
//   "escrowless prekey signature v1" || kind name || account || device || key id (uint32,
//   big-endian, so its field is 00 04 || 4 bytes) || public key.
// Ed25519 identity keys sign the message itself (pure Ed25519, CKM_EDDSA); P-256 identity keys
// sign SHA-256(message) with CKM_ECDSA, the signature being raw r || s (64 bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "audit/hash.h"
#include "audit/key_algorithm.h"
#include "audit/log_entry.h"
#include "audit/openssl_ptr.h"

namespace escrowless::audit {

inline constexpr std::string_view kPrekeySignatureContext = "escrowless prekey signature v1";

enum class PrekeyKind {
  signed_prekey,          // X25519, 32 bytes
  pq_last_resort_prekey,  // ML-KEM-768 encapsulation key, 1184 bytes
  one_time_prekey,        // X25519, 32 bytes; uploaded and logged in batches
  pq_one_time_prekey,     // ML-KEM-768, 1184 bytes; uploaded and logged in batches
};

// "signed_prekey", "pq_last_resort_prekey", "one_time_prekey", "pq_one_time_prekey": the names
// the message carries (and the members of a prekeys.signed entry, the batches in plural).
std::string_view to_string(PrekeyKind kind) noexcept;

// The inverse of to_string. Throws invalid_input for any other name.
PrekeyKind parse_prekey_kind(std::string_view name);

// The public key size of a kind: kX25519KeySize (32) or kMlKem768KeySize (1184).
std::size_t prekey_size(PrekeyKind kind) noexcept;

// True for the kinds uploaded and logged in batches (one_time_prekey, pq_one_time_prekey).
bool is_one_time(PrekeyKind kind) noexcept;

// Throws invalid_input unless `public_key` has exactly prekey_size(kind) bytes ("one_time_prekey
// public keys are 32 bytes (X25519), got 31"). Only the size is checked: neither X25519 nor
// ML-KEM-768 keys are validated as curve points or lattice keys here.
void check_prekey_size(PrekeyKind kind, std::span<const uint8_t> public_key);

// The bytes the identity key signs for one prekey (layout above). Requires valid ids
// (is_valid_id) and a public key of the kind's size; throws invalid_input otherwise.
std::vector<uint8_t> prekey_signature_message(PrekeyKind kind, std::string_view account,
                                              std::string_view device, uint32_t key_id,
                                              std::span<const uint8_t> public_key);

// True if `signature` (64 bytes) is the identity key's signature over `message`: pure Ed25519
// for ed25519; for ecdsa_p256, ECDSA over SHA-256(message) with the signature as raw r || s
// (an r or s of zero is a signature that does not verify). `identity_public_key_raw` is the
// raw key of log entries (32 bytes, or the 65-byte uncompressed P-256 point).
// Throws invalid_input if the key is malformed (wrong size, P-256 point not on the curve) or the
// signature is not 64 bytes; a well-formed signature that does not verify returns false.
bool verify_prekey_signature(KeyAlgorithm algorithm,
                             std::span<const uint8_t> identity_public_key_raw,
                             std::span<const uint8_t> message, std::span<const uint8_t> signature);

// What an auditor checks in a prekeys.signed entry from the entry alone, given the identity key
// of its device (from that device's device.enrolled entry):
//   - identity_key_sha256 is that key's public key hash (else mismatch);
//   - signed_prekey and pq_last_resort_prekey, when present, carry signatures that verify over
//     their messages for the entry's account and device (else mismatch, naming the member).
// One-time prekey batches are logged as a count and a Merkle root only, so their signatures
// can't be checked from the entry: a client checks each one-time prekey it is handed, with its
// signature and its path to that root (prekey_batch.h). Throws invalid_input if the entry or
// the key is malformed; returns normally when everything checks.
void verify_prekeys_signed(const PrekeysSigned& entry, KeyAlgorithm algorithm,
                           std::span<const uint8_t> identity_public_key_raw);

// An identity key made ready once for all the signatures of its device: its public key hash and
// its OpenSSL key are computed here rather than again for every signature (an auditor checks
// every prekeys.signed entry of a device under the same key). Immutable once made, so several
// threads may verify with one at the same time.
class PreparedIdentityKey {
 public:
  // Throws invalid_input if the key is malformed (wrong size, P-256 point not on the curve).
  PreparedIdentityKey(KeyAlgorithm algorithm, std::span<const uint8_t> raw);

  KeyAlgorithm algorithm() const noexcept { return algorithm_; }
  const Hash& sha256() const noexcept { return sha256_; }

  // verify_prekey_signature() under this key.
  bool verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const;

 private:
  KeyAlgorithm algorithm_;
  Hash sha256_{};
  EvpPkeyPtr key_;
};

// verify_prekeys_signed() under a prepared key: the same checks and the same errors (for a key
// that prepares).
void verify_prekeys_signed(const PrekeysSigned& entry, const PreparedIdentityKey& identity_key);

}  // namespace escrowless::audit
