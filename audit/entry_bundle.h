// C2SP tlog-tiles entry bundles (https://c2sp.org/tlog-tiles, "Log entries"): the entries of one
// level-0 tile, each prefixed with its length as a big-endian uint16. No entry can be longer than
// 65,535 bytes, so a log that serves bundles must keep every entry within that; an entry over it
// is refused by name rather than truncated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audit/hash.h"

namespace escrowless::audit {

inline constexpr std::size_t kMaxBundleEntryBytes = 65535;

// The bundle of `entries` (1 to 256 of them; `first_index` is the log index of the first, for
// messages). Throws invalid_input naming the entry's log index and size if one is longer than
// kMaxBundleEntryBytes.
std::string format_entry_bundle(std::span<const std::string> entries, uint64_t first_index = 0);

// The entries of a bundle that must hold exactly `count` of them, with no bytes after the last.
// Throws invalid_input otherwise.
std::vector<std::string> parse_entry_bundle(std::string_view bundle, unsigned count);

// Checks that entry i hashes (RFC 6962 leaf hash) to level0_tile[i], for every i. Throws
// invalid_input if the counts differ, mismatch naming the first entry that does not match.
void check_entry_bundle(std::span<const std::string> entries, std::span<const Hash> level0_tile,
                        uint64_t first_index = 0);

}  // namespace escrowless::audit
