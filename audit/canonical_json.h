// Canonical JSON: the one byte form of a JSON value that log entries are stored, hashed and
// served in. Compact (no whitespace outside strings), object keys sorted by their UTF-8 bytes,
// strings as raw UTF-8 with only the escapes JSON requires (\" \\ \b \f \n \r \t, and \u00xx
// with lowercase hex for the other control characters), and no floating-point numbers: only
// integers within +-(2^53 - 1) (exact in every JSON implementation, JavaScript's included),
// strings, booleans, null, arrays and objects.
//
// parse_canonical() accepts a document only if it is already in that form, so every value has
// exactly one accepted encoding and an entry's hash can't change with its spelling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace escrowless::audit {

// Bounds on documents, both ways. The size fits the largest hsm.inventory entry (10000 objects
// with the longest ids and labels entries allow); the depth is well above any entry's (4).
inline constexpr std::size_t kMaxCanonicalJsonSize = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxCanonicalJsonDepth = 32;
inline constexpr int64_t kMaxCanonicalJsonInteger = (int64_t{1} << 53) - 1;

// The canonical encoding of `value`. nlohmann::json's object type is a std::map with byte-wise
// key order, so sorting comes for free. Throws invalid_input, naming the path of the offending
// value, on a floating-point number, an integer out of range, a string or key that is not valid
// UTF-8, a binary value, nesting deeper than kMaxCanonicalJsonDepth, or an encoding larger than
// kMaxCanonicalJsonSize.
std::string canonical_json(const nlohmann::json& value);

// Parses `bytes` strictly: at most kMaxCanonicalJsonSize bytes, valid JSON with nothing after
// it, no duplicate object keys (nlohmann would silently keep the last), no nesting deeper than
// kMaxCanonicalJsonDepth, no floating-point number or out-of-range integer, and byte-for-byte
// equal to its own canonical encoding. Throws invalid_input (starting "canonical JSON:", naming
// the field path or byte offset) otherwise.
nlohmann::json parse_canonical(std::string_view bytes);

// The same by the definition: a strict parse, then canonical_json() of the value compared with
// the bytes. Slower (three passes where parse_canonical makes one plus a byte scan), so
// parse_canonical uses it only to say why a document is refused; tests check the two agree.
nlohmann::json parse_canonical_reference(std::string_view bytes);

}  // namespace escrowless::audit
