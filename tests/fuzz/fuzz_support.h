// Shared by the libFuzzer targets: a failed property is a crash (abort), so libFuzzer keeps the
// input that broke it, and the message says which property.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

#include "audit/error.h"

namespace escrowless::fuzz {

[[noreturn]] inline void fail(const char* property) {
  std::fprintf(stderr, "fuzz property broken: %s\n", property);
  std::abort();
}

inline void require(bool holds, const char* property) {
  if (!holds) fail(property);
}

// Refusing garbage is the parsers' job, but only as invalid_input: any other kind would make the
// server answer 5xx (or an auditor report a mismatch) for mere malformed input.
inline void require_invalid_input(const audit::Error& e) {
  if (e.kind() != audit::ErrorKind::invalid_input) {
    std::fprintf(stderr, "%s error: %s\n", audit::to_string(e.kind()), e.what());
    fail("malformed input is reported as invalid_input");
  }
}

inline std::string_view as_text(const uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace escrowless::fuzz
