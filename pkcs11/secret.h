// A PIN or other secret: one fixed allocation, wiped with OPENSSL_cleanse when destroyed or moved
// from. It cannot be copied and has no way to be formatted, so it cannot reach a log line by
// accident; code that must hand it to Cryptoki asks for the bytes explicitly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace escrowless::pkcs11 {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::span<const std::uint8_t> bytes);
  explicit Secret(std::string_view text);
  ~Secret();

  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  std::span<const std::uint8_t> bytes() const { return {data_.get(), size_}; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Constant-time comparison (the time depends on the lengths only).
  bool equals(std::span<const std::uint8_t> other) const;

 private:
  void wipe() noexcept;

  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0;
};

// A random secret of `bytes` random bytes written as lowercase hex (2 * bytes characters), from
// OpenSSL's CSPRNG: used for generated PINs.
Secret random_hex_secret(std::size_t bytes);

}  // namespace escrowless::pkcs11
