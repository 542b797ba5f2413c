// RFC 6962 hashing: THE hashing implementation of the whole project (the server's log, the
// sequencer and the auditor all use these, so there is one definition of a leaf and a node).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace escrowless::audit {

inline constexpr std::size_t kHashSize = 32;
using Hash = std::array<uint8_t, kHashSize>;

// SHA-256 of `data`. Thread-safe; allocates nothing after a thread's first call.
Hash sha256(std::span<const uint8_t> data);
Hash sha256(std::string_view data);

// RFC 6962 2.1 leaf hash: SHA-256(0x00 || entry).
Hash leaf_hash(std::span<const uint8_t> entry);
Hash leaf_hash(std::string_view entry);

// RFC 6962 2.1 interior node hash: SHA-256(0x01 || left || right).
Hash node_hash(const Hash& left, const Hash& right);

// RFC 6962 2.1 root of the empty tree: SHA-256 of the empty string.
const Hash& empty_root();

// Copies exactly 32 bytes into a Hash. Throws invalid_input (naming `what`) on any other size.
Hash hash_from_bytes(std::span<const uint8_t> bytes, std::string_view what = "hash");

// Decodes strict standard base64 of exactly 32 bytes. Throws invalid_input otherwise.
Hash hash_from_base64(std::string_view text, std::string_view what = "hash");

// Lowercase hex, for messages and logs.
std::string to_hex(const Hash& hash);

// Standard padded base64, the form hashes take in checkpoints and JSON.
std::string to_base64(const Hash& hash);

}  // namespace escrowless::audit
