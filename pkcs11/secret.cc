#include "pkcs11/secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>

#include "pkcs11/error.h"

namespace escrowless::pkcs11 {

Secret::Secret(std::span<const std::uint8_t> bytes)
    : data_(std::make_unique<std::uint8_t[]>(bytes.size())), size_(bytes.size()) {
  std::copy(bytes.begin(), bytes.end(), data_.get());
}

Secret::Secret(std::string_view text)
    : Secret(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())) {}

Secret::~Secret() { wipe(); }

Secret::Secret(Secret&& other) noexcept : data_(std::move(other.data_)), size_(other.size_) {
  other.size_ = 0;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe();
    data_ = std::move(other.data_);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

void Secret::wipe() noexcept {
  if (data_) OPENSSL_cleanse(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

bool Secret::equals(std::span<const std::uint8_t> other) const {
  if (other.size() != size_) return false;
  return size_ == 0 || CRYPTO_memcmp(data_.get(), other.data(), size_) == 0;
}

Secret random_hex_secret(std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto raw = std::make_unique<std::uint8_t[]>(bytes);
  auto text = std::make_unique<std::uint8_t[]>(2 * bytes);
  if (RAND_bytes(raw.get(), static_cast<int>(bytes)) != 1) {
    throw Error(ErrorKind::internal, "RAND_bytes failed");
  }
  for (std::size_t i = 0; i < bytes; ++i) {
    text[2 * i] = static_cast<std::uint8_t>(kHex[raw[i] >> 4]);
    text[2 * i + 1] = static_cast<std::uint8_t>(kHex[raw[i] & 0x0f]);
  }
  Secret secret(std::span<const std::uint8_t>(text.get(), 2 * bytes));
  OPENSSL_cleanse(raw.get(), bytes);
  OPENSSL_cleanse(text.get(), 2 * bytes);
  return secret;
}

}  // namespace escrowless::pkcs11
