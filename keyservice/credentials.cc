#include "keyservice/credentials.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>

#include "keyservice/error.h"

namespace escrowless::keyservice {

pkcs11::Secret new_credential() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::array<std::uint8_t, 33> raw{};  // 32 random bytes + 1 zero byte of padding for the loop
  if (RAND_bytes(raw.data(), 32) != 1) throw Error(ErrorKind::internal, "RAND_bytes failed");
  std::array<std::uint8_t, 44> text{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < 33; i += 3) {
    const std::uint32_t v = (static_cast<std::uint32_t>(raw[i]) << 16) |
                            (static_cast<std::uint32_t>(raw[i + 1]) << 8) | raw[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) {
      text[n++] = static_cast<std::uint8_t>(kAlphabet[(v >> shift) & 0x3f]);
    }
  }
  pkcs11::Secret credential(std::span<const std::uint8_t>(text.data(), 43));  // 256 bits fit in 43
  OPENSSL_cleanse(raw.data(), raw.size());
  OPENSSL_cleanse(text.data(), text.size());
  return credential;
}

audit::Hash credential_hash(std::span<const std::uint8_t> credential) { return audit::sha256(credential); }

audit::Hash credential_hash(std::string_view credential) { return audit::sha256(credential); }

bool credential_matches(std::string_view presented, const audit::Hash& stored_hash) {
  const audit::Hash presented_hash = credential_hash(presented);
  return CRYPTO_memcmp(presented_hash.data(), stored_hash.data(), stored_hash.size()) == 0;
}

}  // namespace escrowless::keyservice
