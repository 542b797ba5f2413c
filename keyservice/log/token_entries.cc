#include "keyservice/log/token_entries.h"

#include <algorithm>
#include <chrono>

#include <openssl/rand.h>

#include "audit/checkpoint.h"
#include "audit/inventory_parts.h"
#include "audit/note.h"
#include "audit/utf8.h"
#include "pkcs11/error.h"

namespace escrowless::keyservice {
namespace {

audit::ObjectClass entry_class(CK_OBJECT_CLASS object_class) {
  return audit::parse_object_class(pkcs11::object_class_name(object_class));
}

audit::KeyType entry_key_type(CK_KEY_TYPE key_type) {
  return audit::parse_key_type(pkcs11::key_type_name(key_type));
}

// Labels are informational (auditors match objects by id and key hash), and any object on the
// token, ours or not, must not be able to make an inventory unloggable: bytes that are not UTF-8
// become U+FFFD and the label is cut to the entry format's limit on a character boundary.
std::string loggable_label(std::string_view label) {
  std::string out;
  for (std::size_t i = 0; i < label.size();) {
    std::size_t length = 1;
    const auto byte = static_cast<unsigned char>(label[i]);
    if (byte >= 0xf0) length = 4;
    else if (byte >= 0xe0) length = 3;
    else if (byte >= 0xc0) length = 2;
    std::string_view piece = label.substr(i, length);
    if (length == 1 && byte >= 0x80) piece = {};
    if (piece.empty() || piece.size() != length || !audit::is_valid_utf8(piece)) {
      piece = "\xEF\xBF\xBD";  // U+FFFD
      length = 1;
    }
    if (out.size() + piece.size() > audit::kMaxKeyLabelSize) break;
    out += piece;
    i += length;
  }
  return out;
}

}  // namespace

audit::Token entry_token(const pkcs11::TokenInfo& token) {
  return {loggable_label(token.label), loggable_label(token.manufacturer),
          loggable_label(token.model), loggable_label(token.serial)};
}

audit::Attributes entry_attributes(const pkcs11::ObjectAttributes& attributes) {
  audit::Attributes flags;
  for (const pkcs11::Flag& flag : attributes.flags) {
    if (flag.value) flags[std::string(flag.name)] = *flag.value;
  }
  return flags;
}

audit::KeyAlgorithm entry_algorithm(pkcs11::Algorithm algorithm) {
  return audit::parse_key_algorithm(pkcs11::to_string(algorithm));
}

audit::TokenKey read_token_key(pkcs11::SessionPool& pool, const pkcs11::KeyPair& key) {
  const pkcs11::KeyPairAttributes read_back = pkcs11::read_key_pair_attributes(pool, key);
  return audit::TokenKey{entry_algorithm(key.public_key.algorithm), key.id, key.label,
                         key.public_key.raw,
                         {entry_attributes(read_back.private_key), entry_attributes(read_back.public_key)}};
}

std::vector<audit::TokenMechanism> entry_mechanisms(const std::vector<pkcs11::Mechanism>& mechanisms) {
  constexpr unsigned long kMax32 = 0xffffffffUL;
  std::vector<audit::TokenMechanism> out;
  out.reserve(mechanisms.size());
  for (const pkcs11::Mechanism& m : mechanisms) {
    out.push_back({m.type, std::min(m.min_key_size, kMax32), std::min(m.max_key_size, kMax32),
                   m.flags & kMax32});
  }
  return out;
}

std::vector<audit::HsmInventory> take_inventory_entries(pkcs11::Token& token, std::string_view origin,
                                                        const audit::InventoryCheckpoint& checkpoint) {
  audit::WholeInventory inventory;
  inventory.time = audit::to_entry_time(std::chrono::system_clock::now());
  inventory.token = entry_token(token.info());
  if (RAND_bytes(inventory.id.data(), static_cast<int>(inventory.id.size())) != 1) {
    throw pkcs11::Error(pkcs11::ErrorKind::internal, "RAND_bytes failed");
  }
  inventory.checkpoint = checkpoint;
  inventory.mechanisms = entry_mechanisms(token.mechanisms());
  const auto challenge = [&](std::size_t position) {
    return audit::inventory_proof_message(origin, checkpoint, inventory.id, position);
  };
  for (pkcs11::InventoryItem& item : pkcs11::take_inventory(token.pool(), challenge)) {
    audit::InventoryObject object;
    object.object_class = entry_class(item.attributes.object_class);
    if (item.attributes.key_type) object.key_type = entry_key_type(*item.attributes.key_type);
    object.id = item.attributes.id;
    object.label = loggable_label(item.attributes.label);
    object.flags = entry_attributes(item.attributes);
    object.public_key_sha256 = item.public_key_sha256;
    object.proof = std::move(item.proof);
    inventory.objects.push_back(std::move(object));
  }
  return audit::split_inventory(inventory);
}

std::vector<std::future<Receipt>> append_inventory(TransparencyLog& log, pkcs11::Token& token) {
  audit::InventoryCheckpoint checkpoint{0, audit::empty_root()};
  if (const auto head = log.signed_head()) {
    const audit::Checkpoint signed_tree = audit::parse_checkpoint(audit::parse_note(head->note).text);
    checkpoint = {signed_tree.size, signed_tree.root};
  }
  std::vector<std::future<Receipt>> receipts;
  for (const audit::HsmInventory& part : take_inventory_entries(token, log.origin(), checkpoint)) {
    const std::vector<std::uint8_t> bytes = part.to_bytes();
    receipts.push_back(log.append(std::string(bytes.begin(), bytes.end())));
  }
  return receipts;
}

}  // namespace escrowless::keyservice
