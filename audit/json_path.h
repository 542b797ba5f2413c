// Field paths for error messages ("identity_key.attributes.private_key.sign", "objects[3].id")
// and a safe way to quote input in them. Messages reach API clients inside JSON problem
// documents, so whatever they echo must be printable ASCII, whatever the input held.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace escrowless::audit {

// `parent.key`, or `key` at the top level (empty parent). The key is passed through printable().
std::string field_path(std::string_view parent, std::string_view key);

// `parent[index]`.
std::string index_path(std::string_view parent, std::size_t index);

// `text` with every byte outside printable ASCII, and '"' and '\\', written as \xNN, and cut
// to `max_bytes` input bytes (marked with "...").
std::string printable(std::string_view text, std::size_t max_bytes = 64);

// printable(text) in double quotes. (Not "quoted": std::quoted would win overload resolution
// by argument-dependent lookup for std::string arguments.)
std::string quote(std::string_view text, std::size_t max_bytes = 64);

}  // namespace escrowless::audit
