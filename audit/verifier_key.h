// C2SP signed-note verifier keys (https://c2sp.org/signed-note, "Verifier keys"):
//   <name>+<8 lowercase hex key id>+<base64(signature type || public key)>
//
// Supported signature types, as the spec assigns them:
//   0x01 Ed25519: public key = the 32-byte RFC 8032 key; signature = 64 bytes over the note text;
//        key id = SHA-256(name || 0x0A || 0x01 || key)[:4].
//   0x02 ECDSA "as implemented by github.com/transparency-dev/witness": public key = DER
//        SubjectPublicKeyInfo (curve P-256, P-384 or P-521; P-256 recommended); signature =
//        ASN.1 DER ECDSA-Sig-Value over SHA-256(note text); key id = SHA-256(SPKI DER)[:4],
//        i.e. WITHOUT the name and type byte (the spec says so explicitly for this type).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace escrowless::audit {

enum class SignatureType : uint8_t {
  ed25519 = 0x01,
  ecdsa = 0x02,
};

// The 4-byte key id (as a big-endian uint32) of `public_key` under `name` and `type`, by the
// rule of that type (see above). Requires a valid key name and a supported type; throws
// invalid_input otherwise. The key bytes themselves are not validated here.
uint32_t compute_key_id(std::string_view name, SignatureType type,
                        std::span<const uint8_t> public_key);

// A validated verifier key, ready to check signatures. Immutable; cheap to copy (the parsed
// OpenSSL key is shared) and safe to use from several threads.
class VerifierKey {
 public:
  // Validates and builds a key: a valid key name; Ed25519 keys of exactly 32 bytes; ECDSA keys
  // as canonical DER SPKI of an uncompressed point on P-256, P-384 or P-521. Throws
  // invalid_input otherwise.
  static VerifierKey create(std::string_view name, SignatureType type,
                            std::span<const uint8_t> public_key);

  const std::string& name() const noexcept { return name_; }
  uint32_t key_id() const noexcept { return key_id_; }
  SignatureType type() const noexcept { return type_; }
  const std::vector<uint8_t>& public_key() const noexcept { return public_key_; }

  // True if `signature` is this key's signature over `message` (the note text).
  // Throws invalid_input if the signature is malformed for the type (an Ed25519 signature that
  // is not 64 bytes, an ECDSA signature that is not canonical DER).
  bool verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const;

  // The vkey string.
  std::string to_string() const;

 private:
  struct Impl;
  VerifierKey(std::string name, uint32_t key_id, SignatureType type,
              std::vector<uint8_t> public_key, std::shared_ptr<const Impl> impl);

  std::string name_;
  uint32_t key_id_;
  SignatureType type_;
  std::vector<uint8_t> public_key_;
  std::shared_ptr<const Impl> impl_;
};

// Parses a vkey string. Strict: exactly three '+'-separated parts (the base64 part may itself
// contain '+'), a valid name, exactly 8 lowercase hex digits, strict base64, a supported type,
// a valid key, and a key id that matches the key. Throws invalid_input otherwise.
VerifierKey parse_verifier_key(std::string_view vkey);

// Formats the vkey string for `public_key` (validating it like VerifierKey::create).
std::string format_verifier_key(std::string_view name, SignatureType type,
                                std::span<const uint8_t> public_key);

}  // namespace escrowless::audit
