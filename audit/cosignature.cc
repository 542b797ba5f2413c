#include "audit/cosignature.h"

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/hash.h"

namespace escrowless::audit {
namespace {

constexpr std::size_t kEd25519KeySize = 32;
constexpr std::size_t kPayloadSize = 8 + 64;

std::string hex_id(uint32_t id) {
  const uint8_t bytes[4] = {static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                            static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
  return hex_encode(bytes);
}

}  // namespace

uint32_t cosigner_key_id(std::string_view name, std::span<const uint8_t> ed25519_key) {
  std::vector<uint8_t> input(name.begin(), name.end());
  input.push_back(0x0a);
  input.push_back(kCosignatureV1Type);
  input.insert(input.end(), ed25519_key.begin(), ed25519_key.end());
  const Hash h = sha256(input);
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | h[3];
}

CosignerKey CosignerKey::create(std::string_view name, std::span<const uint8_t> ed25519_key) {
  if (ed25519_key.size() != kEd25519KeySize) {
    throw invalid_input("a cosigner key is a 32-byte Ed25519 key, got " + std::to_string(ed25519_key.size()) + " bytes");
  }
  VerifierKey engine = VerifierKey::create(name, SignatureType::ed25519, ed25519_key);  // checks name and key
  return CosignerKey(std::move(engine), cosigner_key_id(name, ed25519_key));
}

bool CosignerKey::verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const {
  return ed25519_.verify(message, signature);
}

std::string CosignerKey::to_string() const {
  std::vector<uint8_t> typed{kCosignatureV1Type};
  typed.insert(typed.end(), public_key().begin(), public_key().end());
  return name() + "+" + hex_id(key_id_) + "+" + base64_encode(typed);
}

CosignerKey parse_cosigner_key(std::string_view vkey) {
  const std::size_t plus1 = vkey.find('+');
  const std::size_t plus2 = plus1 == std::string_view::npos ? plus1 : vkey.find('+', plus1 + 1);
  if (plus2 == std::string_view::npos) throw invalid_input("witness key: expected <name>+<key id>+<key>");
  const std::string_view name = vkey.substr(0, plus1);
  const std::string_view id = vkey.substr(plus1 + 1, plus2 - plus1 - 1);
  std::vector<uint8_t> typed;
  try {
    typed = base64_decode(vkey.substr(plus2 + 1));
  } catch (const Error& e) {
    throw invalid_input(std::string("witness key: ") + e.what());
  }
  if (typed.empty()) throw invalid_input("witness key: no key");
  const uint8_t type = typed.front();
  const std::span<const uint8_t> key = std::span<const uint8_t>(typed).subspan(1);
  if (type == static_cast<uint8_t>(SignatureType::ed25519)) {
    // The note key form: its id is the type-0x01 id, checked as such.
    const VerifierKey note_key = parse_verifier_key(vkey);
    return CosignerKey::create(note_key.name(), note_key.public_key());
  }
  if (type != kCosignatureV1Type) {
    throw invalid_input("witness key: type " + std::to_string(type) +
                        " is not a cosignature/v1 key (0x04) or an Ed25519 note key (0x01)");
  }
  CosignerKey parsed = CosignerKey::create(name, key);
  if (id != hex_id(parsed.key_id())) {
    throw invalid_input("witness key: key id " + std::string(id.substr(0, 16)) + " does not match the key (expected " +
                        hex_id(parsed.key_id()) + ")");
  }
  return parsed;
}

std::vector<uint8_t> cosignature_message(std::string_view checkpoint_text, uint64_t timestamp) {
  if (timestamp > kMaxCosignatureTimestamp) throw invalid_input("cosignature timestamp exceeds 2^63 - 1");
  const std::vector<uint8_t> text = note_signed_message(checkpoint_text);  // validates the text
  const std::string header = "cosignature/v1\ntime " + std::to_string(timestamp) + "\n";
  std::vector<uint8_t> message(header.begin(), header.end());
  message.insert(message.end(), text.begin(), text.end());
  return message;
}

Cosignature parse_cosignature(std::span<const uint8_t> payload) {
  if (payload.size() != kPayloadSize) {
    throw invalid_input("a cosignature/v1 signature is 8 timestamp bytes and 64 signature bytes, got " +
                        std::to_string(payload.size()) + " bytes");
  }
  Cosignature cosignature;
  for (std::size_t i = 0; i < 8; ++i) cosignature.timestamp = (cosignature.timestamp << 8) | payload[i];
  if (cosignature.timestamp > kMaxCosignatureTimestamp) throw invalid_input("cosignature timestamp exceeds 2^63 - 1");
  std::copy(payload.begin() + 8, payload.end(), cosignature.signature.begin());
  return cosignature;
}

std::optional<uint64_t> verify_cosignature(const Note& note, const CosignerKey& key) {
  for (const NoteSignature& line : note.signatures) {
    if (line.name != key.name() || line.key_id != key.key_id()) continue;
    const Cosignature cosignature = parse_cosignature(line.signature);
    if (!key.verify(cosignature_message(note.text, cosignature.timestamp), cosignature.signature)) {
      throw mismatch("the cosignature of " + key.name() + " does not verify");
    }
    return cosignature.timestamp;
  }
  return std::nullopt;
}

std::string cosignature_line(const CosignerKey& key, std::string_view checkpoint_text, uint64_t timestamp,
                             const Ed25519Signer& sign) {
  const std::vector<uint8_t> message = cosignature_message(checkpoint_text, timestamp);
  const std::vector<uint8_t> signature = sign(message);
  if (signature.size() != 64) {
    throw invalid_input("the cosigner returned " + std::to_string(signature.size()) + " bytes, not an Ed25519 signature");
  }
  if (!key.verify(message, signature)) throw mismatch("the cosigner's signature does not verify under " + key.to_string());
  std::vector<uint8_t> payload(8);
  for (std::size_t i = 0; i < 8; ++i) payload[i] = static_cast<uint8_t>(timestamp >> (56 - 8 * i));
  payload.insert(payload.end(), signature.begin(), signature.end());
  return format_signature_line(key.name(), key.key_id(), payload);
}

}  // namespace escrowless::audit
