// C2SP tlog-cosignature (https://c2sp.org/tlog-cosignature), the Ed25519 `cosignature/v1` kind:
// a witness's statement that, at a time, the checkpoint is the largest consistent tree head it
// has seen for the log. A cosignature is an ordinary signed-note signature line on the
// checkpoint:
//   — <witness name> base64(key id || timestamp || signature)
// with key id = SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 key)[:4], the timestamp a
// big-endian uint64 of POSIX seconds (at most 2^63 - 1), and the Ed25519 signature over
//   "cosignature/v1\ntime <timestamp>\n" || the checkpoint note text (with its final newline).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audit/note.h"
#include "audit/verifier_key.h"

namespace escrowless::audit {

inline constexpr uint8_t kCosignatureV1Type = 0x04;
inline constexpr uint64_t kMaxCosignatureTimestamp = (uint64_t{1} << 63) - 1;

// A witness's public key, as a vkey "<name>+<hex key id>+<base64(0x04 || key)>". Immutable,
// cheap to copy, safe to share between threads.
class CosignerKey {
 public:
  // Requires a valid key name and a valid 32-byte Ed25519 key; throws invalid_input otherwise.
  static CosignerKey create(std::string_view name, std::span<const uint8_t> ed25519_key);

  const std::string& name() const noexcept { return ed25519_.name(); }
  uint32_t key_id() const noexcept { return key_id_; }
  const std::vector<uint8_t>& public_key() const noexcept { return ed25519_.public_key(); }

  // True if `signature` (64 bytes) is this key's Ed25519 signature over `message`.
  bool verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const;

  std::string to_string() const;  // the vkey

 private:
  CosignerKey(VerifierKey ed25519, uint32_t key_id) : ed25519_(std::move(ed25519)), key_id_(key_id) {}
  VerifierKey ed25519_;  // the Ed25519 engine; its note key id (type 0x01) is not used
  uint32_t key_id_;
};

// Parses a witness vkey. Type 0x04 is the cosignature key; an Ed25519 note key (type 0x01) is
// accepted too and read as the same key for cosignatures (transparency-dev's witnesses publish
// either), with its key id recomputed for type 0x04. Strict otherwise, like parse_verifier_key:
// throws invalid_input for any other type, a bad name, or a key id that does not match.
CosignerKey parse_cosigner_key(std::string_view vkey);

// The key id of a cosignature/v1 key.
uint32_t cosigner_key_id(std::string_view name, std::span<const uint8_t> ed25519_key);

// The exact bytes a witness signs for `checkpoint_text` at `timestamp`. Requires note text as
// note_signed_message() does and a timestamp <= kMaxCosignatureTimestamp; throws invalid_input.
std::vector<uint8_t> cosignature_message(std::string_view checkpoint_text, uint64_t timestamp);

struct Cosignature {
  uint64_t timestamp = 0;
  std::array<uint8_t, 64> signature{};
};

// The payload of a cosignature/v1 note signature (the bytes after the key id). Throws
// invalid_input unless it is exactly 72 bytes with a timestamp <= kMaxCosignatureTimestamp.
Cosignature parse_cosignature(std::span<const uint8_t> payload);

// Finds `key`'s cosignature in `note` (the signature whose name and key id both match; others
// are ignored) and checks it. Returns its timestamp, or nullopt when the note carries none from
// this key. Throws invalid_input for a malformed one, mismatch for one that does not verify.
std::optional<uint64_t> verify_cosignature(const Note& note, const CosignerKey& key);

// The witness's side: signs with `sign` (an Ed25519 signer of the key, e.g. in a token) and
// returns the signature line, after verifying the signature with `key` (Error(mismatch) if the
// signer does not hold that key, invalid_input if it returns other than 64 bytes).
using Ed25519Signer = std::function<std::vector<uint8_t>(std::span<const uint8_t> message)>;
std::string cosignature_line(const CosignerKey& key, std::string_view checkpoint_text, uint64_t timestamp,
                             const Ed25519Signer& sign);

}  // namespace escrowless::audit
