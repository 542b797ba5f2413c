// Cryptoki's fixed-width text fields (CK_INFO, CK_SLOT_INFO, CK_TOKEN_INFO) are padded to their
// width and not NUL-terminated. The standard pads with blanks; some modules (tpm2-pkcs11) pad
// with NULs instead, so both are trimmed, and the text ends at the first NUL either way.
#pragma once

#include <cstddef>
#include <string>

#include "pkcs11/cryptoki.h"

namespace escrowless::pkcs11 {

inline std::string padded_text(const CK_UTF8CHAR* field, std::size_t width) {
  std::string text(reinterpret_cast<const char*>(field), width);
  text.resize(text.find('\0') == std::string::npos ? width : text.find('\0'));
  const std::size_t end = text.find_last_not_of(' ');
  return end == std::string::npos ? std::string() : text.substr(0, end + 1);
}

template <std::size_t N>
std::string padded_text(const CK_UTF8CHAR (&field)[N]) {
  return padded_text(field, N);
}

}  // namespace escrowless::pkcs11
