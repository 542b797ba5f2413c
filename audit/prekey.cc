#include "audit/prekey.h"

#include <algorithm>
#include <optional>
#include <string>

#include "audit/byte_fields.h"
#include "audit/ecdsa.h"
#include "audit/entry_ids.h"
#include "audit/error.h"
#include "audit/json_path.h"
#include "audit/openssl_ptr.h"
#include "audit/public_key.h"

namespace escrowless::audit {
namespace {

std::string size_text(std::size_t size) {
  return size == kX25519KeySize ? "32 bytes (X25519)" : "1184 bytes (ML-KEM-768)";
}

bool is_zero(std::span<const uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

// For messages: "<prefix><what>" without a chain of temporaries (GCC 12's false -Wrestrict).
std::string joined(std::string_view prefix, std::string_view what) {
  std::string out(prefix);
  out += what;
  return out;
}

// Checks one signed member of a prekeys.signed entry with `verify(message, signature)`; errors
// name the member.
template <typename Verify>
void verify_member(const PrekeysSigned& entry, PrekeyKind kind,
                   const std::optional<SignedPrekey>& prekey, const Verify& verify) {
  if (!prekey) return;
  std::string prefix = "prekeys.signed: ";
  prefix += to_string(kind);
  prefix += ": ";
  bool verified = false;
  try {
    const std::vector<uint8_t> message = prekey_signature_message(
        kind, entry.account, entry.device, prekey->key_id, prekey->public_key);
    verified = verify(message, prekey->signature);
  } catch (const Error& e) {
    throw Error(e.kind(), joined(prefix, e.what()));
  }
  if (!verified) {
    throw mismatch(joined(prefix, "signature does not verify under the identity key"));
  }
}

void check_signature_size(std::span<const uint8_t> signature) {
  if (signature.size() != kPrekeySignatureSize) {
    throw invalid_input(
        joined("prekey signatures are 64 bytes, got ", std::to_string(signature.size())));
  }
}

// The OpenSSL key of a raw identity key.
EvpPkeyPtr load_identity_key(KeyAlgorithm algorithm, std::span<const uint8_t> raw) {
  if (algorithm == KeyAlgorithm::ed25519) return load_ed25519_public_key(raw);
  return load_ecdsa_spki(public_key_spki(KeyAlgorithm::ecdsa_p256, raw));
}

bool verify_with(KeyAlgorithm algorithm, EVP_PKEY* key, std::span<const uint8_t> message,
                 std::span<const uint8_t> signature) {
  if (algorithm == KeyAlgorithm::ed25519) return verify_ed25519(key, message, signature);
  // P-256: the token signed SHA-256(message) with CKM_ECDSA and returned raw r || s.
  const std::size_t half = kPrekeySignatureSize / 2;
  // DER has no encoding for r or s of zero; such a signature is simply not valid.
  if (is_zero(signature.first(half)) || is_zero(signature.last(half))) return false;
  return verify_ecdsa_sha256(key, message, ecdsa_signature_raw_to_der(signature));
}

void check_key_hash(const PrekeysSigned& entry, const Hash& key_hash) {
  if (key_hash != entry.identity_key_sha256) {
    std::string message = "prekeys.signed: identity_key_sha256 is ";
    message += to_hex(entry.identity_key_sha256);
    message += ", the identity key's hash is ";
    message += to_hex(key_hash);
    throw mismatch(message);
  }
}

}  // namespace

std::string_view to_string(PrekeyKind kind) noexcept {
  switch (kind) {
    case PrekeyKind::signed_prekey:
      return "signed_prekey";
    case PrekeyKind::pq_last_resort_prekey:
      return "pq_last_resort_prekey";
    case PrekeyKind::one_time_prekey:
      return "one_time_prekey";
    case PrekeyKind::pq_one_time_prekey:
      return "pq_one_time_prekey";
  }
  return "unknown";
}

PrekeyKind parse_prekey_kind(std::string_view name) {
  for (const PrekeyKind kind : {PrekeyKind::signed_prekey, PrekeyKind::pq_last_resort_prekey,
                                PrekeyKind::one_time_prekey, PrekeyKind::pq_one_time_prekey}) {
    if (name == to_string(kind)) return kind;
  }
  throw invalid_input(joined("unknown prekey kind ", quote(name)));
}

std::size_t prekey_size(PrekeyKind kind) noexcept {
  switch (kind) {
    case PrekeyKind::signed_prekey:
    case PrekeyKind::one_time_prekey:
      return kX25519KeySize;
    case PrekeyKind::pq_last_resort_prekey:
    case PrekeyKind::pq_one_time_prekey:
      return kMlKem768KeySize;
  }
  return 0;
}

bool is_one_time(PrekeyKind kind) noexcept {
  return kind == PrekeyKind::one_time_prekey || kind == PrekeyKind::pq_one_time_prekey;
}

void check_prekey_size(PrekeyKind kind, std::span<const uint8_t> public_key) {
  const std::size_t size = prekey_size(kind);
  if (public_key.size() == size) return;
  std::string message(to_string(kind));
  message += " public keys are ";
  message += size_text(size);
  message += ", got ";
  message += std::to_string(public_key.size());
  throw invalid_input(message);
}

std::vector<uint8_t> prekey_signature_message(PrekeyKind kind, std::string_view account,
                                              std::string_view device, uint32_t key_id,
                                              std::span<const uint8_t> public_key) {
  if (!is_valid_id(account)) {
    throw invalid_input(
        joined("prekey account id must be 1 to 64 characters from "
               "[A-Za-z0-9._-], got ",
               quote(account)));
  }
  if (!is_valid_id(device)) {
    throw invalid_input(
        joined("prekey device id must be 1 to 64 characters from "
               "[A-Za-z0-9._-], got ",
               quote(device)));
  }
  check_prekey_size(kind, public_key);
  std::vector<uint8_t> message;
  message.reserve(256 + public_key.size());  // the other fields take at most 195 bytes
  append_field(message, kPrekeySignatureContext);
  append_field(message, to_string(kind));
  append_field(message, account);
  append_field(message, device);
  append_uint32_field(message, key_id);
  append_field(message, public_key);
  return message;
}

bool verify_prekey_signature(KeyAlgorithm algorithm,
                             std::span<const uint8_t> identity_public_key_raw,
                             std::span<const uint8_t> message, std::span<const uint8_t> signature) {
  check_signature_size(signature);
  const EvpPkeyPtr key = load_identity_key(algorithm, identity_public_key_raw);
  return verify_with(algorithm, key.get(), message, signature);
}

void verify_prekeys_signed(const PrekeysSigned& entry, KeyAlgorithm algorithm,
                           std::span<const uint8_t> identity_public_key_raw) {
  Hash key_hash{};
  try {
    key_hash = public_key_sha256(algorithm, identity_public_key_raw);
  } catch (const Error& e) {
    throw Error(e.kind(), joined("prekeys.signed: identity key: ", e.what()));
  }
  check_key_hash(entry, key_hash);
  const auto verify = [&](std::span<const uint8_t> message, std::span<const uint8_t> signature) {
    return verify_prekey_signature(algorithm, identity_public_key_raw, message, signature);
  };
  verify_member(entry, PrekeyKind::signed_prekey, entry.signed_prekey, verify);
  verify_member(entry, PrekeyKind::pq_last_resort_prekey, entry.pq_last_resort_prekey, verify);
}

PreparedIdentityKey::PreparedIdentityKey(KeyAlgorithm algorithm, std::span<const uint8_t> raw)
    : algorithm_(algorithm), sha256_(public_key_sha256(algorithm, raw)),
      key_(load_identity_key(algorithm, raw)) {}

bool PreparedIdentityKey::verify(std::span<const uint8_t> message,
                                 std::span<const uint8_t> signature) const {
  check_signature_size(signature);
  return verify_with(algorithm_, key_.get(), message, signature);
}

void verify_prekeys_signed(const PrekeysSigned& entry, const PreparedIdentityKey& identity_key) {
  check_key_hash(entry, identity_key.sha256());
  const auto verify = [&](std::span<const uint8_t> message, std::span<const uint8_t> signature) {
    return identity_key.verify(message, signature);
  };
  verify_member(entry, PrekeyKind::signed_prekey, entry.signed_prekey, verify);
  verify_member(entry, PrekeyKind::pq_last_resort_prekey, entry.pq_last_resort_prekey, verify);
}

}  // namespace escrowless::audit
