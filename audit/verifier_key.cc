#include "audit/verifier_key.h"

#include <string>
#include <utility>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/hash.h"
#include "audit/openssl_ptr.h"
#include "audit/public_key.h"
#include "audit/utf8.h"

namespace escrowless::audit {

struct VerifierKey::Impl {
  EvpPkeyPtr key;
};

namespace {

uint32_t first_four_bytes(const Hash& h) {
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | h[3];
}

void check_name(std::string_view name) {
  if (!is_valid_key_name(name)) {
    throw invalid_input("key name must be non-empty UTF-8 without spaces, '+' or control "
                        "characters");
  }
}

bool is_lower_hex(std::string_view text) {
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string key_id_hex(uint32_t id) {
  const uint8_t bytes[4] = {static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                            static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
  return hex_encode(bytes);
}

}  // namespace

uint32_t compute_key_id(std::string_view name, SignatureType type,
                        std::span<const uint8_t> public_key) {
  check_name(name);
  switch (type) {
    case SignatureType::ed25519: {
      // The spec's general rule: SHA-256(name || 0x0A || type || key)[:4].
      std::vector<uint8_t> input(name.begin(), name.end());
      input.push_back(0x0a);
      input.push_back(static_cast<uint8_t>(type));
      input.insert(input.end(), public_key.begin(), public_key.end());
      return first_four_bytes(sha256(input));
    }
    case SignatureType::ecdsa:
      // signed-note, type 0x02: "the key ID for these signatures is the truncated SHA-256 hash
      // of the DER encoded public key in SPKI format" -- no name, no type byte.
      return first_four_bytes(sha256(public_key));
  }
  throw invalid_input("unsupported signature type " +
                      std::to_string(static_cast<unsigned>(type)));
}

VerifierKey::VerifierKey(std::string name, uint32_t key_id, SignatureType type,
                         std::vector<uint8_t> public_key, std::shared_ptr<const Impl> impl)
    : name_(std::move(name)),
      key_id_(key_id),
      type_(type),
      public_key_(std::move(public_key)),
      impl_(std::move(impl)) {}

VerifierKey VerifierKey::create(std::string_view name, SignatureType type,
                                std::span<const uint8_t> public_key) {
  check_name(name);
  auto impl = std::make_shared<Impl>();
  switch (type) {
    case SignatureType::ed25519:
      impl->key = load_ed25519_public_key(public_key);
      break;
    case SignatureType::ecdsa:
      impl->key = load_ecdsa_spki(public_key);
      break;
    default:
      throw invalid_input("unsupported signature type " +
                          std::to_string(static_cast<unsigned>(type)));
  }
  return VerifierKey(std::string(name), compute_key_id(name, type, public_key), type,
                     std::vector<uint8_t>(public_key.begin(), public_key.end()),
                     std::move(impl));
}

bool VerifierKey::verify(std::span<const uint8_t> message,
                         std::span<const uint8_t> signature) const {
  switch (type_) {
    case SignatureType::ed25519:
      return verify_ed25519(impl_->key.get(), message, signature);
    case SignatureType::ecdsa:
      return verify_ecdsa_sha256(impl_->key.get(), message, signature);
  }
  return false;  // unreachable: create() admits only the types above
}

std::string VerifierKey::to_string() const {
  std::vector<uint8_t> typed_key;
  typed_key.reserve(1 + public_key_.size());
  typed_key.push_back(static_cast<uint8_t>(type_));
  typed_key.insert(typed_key.end(), public_key_.begin(), public_key_.end());
  return name_ + "+" + key_id_hex(key_id_) + "+" + base64_encode(typed_key);
}

VerifierKey parse_verifier_key(std::string_view vkey) {
  // The name can't contain '+' and the id is hex, so the first two '+' split the parts; the
  // base64 part may contain '+' itself.
  const std::size_t plus1 = vkey.find('+');
  const std::size_t plus2 = plus1 == std::string_view::npos ? plus1 : vkey.find('+', plus1 + 1);
  if (plus2 == std::string_view::npos) {
    throw invalid_input("verifier key: expected <name>+<key id>+<key>");
  }
  const std::string_view name = vkey.substr(0, plus1);
  const std::string_view id_hex = vkey.substr(plus1 + 1, plus2 - plus1 - 1);
  const std::string_view key64 = vkey.substr(plus2 + 1);
  check_name(name);
  if (id_hex.size() != 8 || !is_lower_hex(id_hex)) {
    throw invalid_input("verifier key: key id must be 8 lowercase hex digits");
  }
  std::vector<uint8_t> typed_key;
  try {
    typed_key = base64_decode(key64);
  } catch (const Error& e) {
    throw invalid_input(std::string("verifier key: ") + e.what());
  }
  if (typed_key.size() < 2) throw invalid_input("verifier key: key too short");
  const uint8_t type = typed_key[0];
  if (type != static_cast<uint8_t>(SignatureType::ed25519) &&
      type != static_cast<uint8_t>(SignatureType::ecdsa)) {
    throw invalid_input("verifier key: unsupported signature type " + std::to_string(type));
  }
  VerifierKey key = VerifierKey::create(name, static_cast<SignatureType>(type),
                                        std::span<const uint8_t>(typed_key).subspan(1));
  if (key_id_hex(key.key_id()) != id_hex) {
    throw invalid_input("verifier key: key id " + std::string(id_hex) +
                        " does not match the key (expected " + key_id_hex(key.key_id()) + ")");
  }
  return key;
}

std::string format_verifier_key(std::string_view name, SignatureType type,
                                std::span<const uint8_t> public_key) {
  return VerifierKey::create(name, type, public_key).to_string();
}

}  // namespace escrowless::audit
