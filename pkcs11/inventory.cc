#include "pkcs11/inventory.h"

#include <openssl/evp.h>

#include "pkcs11/error.h"
#include "pkcs11/public_key.h"

namespace escrowless::pkcs11 {
namespace {

std::optional<std::array<std::uint8_t, 32>> public_key_hash(Session& session,
                                                            CK_OBJECT_HANDLE object,
                                                            CK_KEY_TYPE key_type) {
  const auto params = read_attribute(session, object, CKA_EC_PARAMS);
  const auto point = read_attribute(session, object, CKA_EC_POINT);
  if (!params || !point) return std::nullopt;
  Algorithm algorithm{};
  try {
    algorithm = algorithm_of(key_type, *params);
  } catch (const Error&) {
    return std::nullopt;  // a curve we don't use: listed, but without a hash
  }
  const std::vector<std::uint8_t> der = decode_ec_point(algorithm, *point).spki_der();
  std::array<std::uint8_t, 32> digest{};
  unsigned int size = 0;
  if (EVP_Digest(der.data(), der.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorKind::internal, "EVP_Digest(SHA-256) failed");
  }
  return digest;
}

}  // namespace

std::vector<InventoryItem> take_inventory(SessionPool& pool) {
  return pool.run([](Session& session) {
    std::vector<InventoryItem> items;
    for (const CK_OBJECT_HANDLE object : find_objects(session, AttributeList{})) {
      InventoryItem item{read_object_attributes(session, object), std::nullopt};
      if (item.attributes.object_class == CKO_PUBLIC_KEY && item.attributes.key_type) {
        item.public_key_sha256 = public_key_hash(session, object, *item.attributes.key_type);
      }
      items.push_back(std::move(item));
    }
    // Private keys take the hash of their public half: same CKA_ID, same key type.
    for (InventoryItem& item : items) {
      if (item.attributes.object_class != CKO_PRIVATE_KEY || item.attributes.id.empty()) continue;
      for (const InventoryItem& other : items) {
        if (other.attributes.object_class == CKO_PUBLIC_KEY &&
            other.attributes.id == item.attributes.id &&
            other.attributes.key_type == item.attributes.key_type) {
          item.public_key_sha256 = other.public_key_sha256;
          break;
        }
      }
    }
    return items;
  });
}

}  // namespace escrowless::pkcs11
