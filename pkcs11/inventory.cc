#include "pkcs11/inventory.h"

#include <openssl/evp.h>

#include "pkcs11/error.h"
#include "pkcs11/keys.h"
#include "pkcs11/object_lock.h"
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
  std::vector<std::uint8_t> der;
  try {
    der = decode_ec_point(algorithm, *point).spki_der();
  } catch (const Error&) {
    // No valid point (SoftHSM's file store, killed while making the key, leaves it empty):
    // listed without a hash, so it accounts for no private key.
    return std::nullopt;
  }
  std::array<std::uint8_t, 32> digest{};
  unsigned int size = 0;
  if (EVP_Digest(der.data(), der.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorKind::internal, "EVP_Digest(SHA-256) failed");
  }
  return digest;
}

// The object's signature over `message`, or nullopt if it is not a key of our algorithms or
// the token refuses to sign with it. Only a failing token (unavailable) is an error.
std::optional<std::vector<std::uint8_t>> prove(Session& session, CK_OBJECT_HANDLE object,
                                               CK_KEY_TYPE key_type, std::span<const std::uint8_t> message) {
  const auto params = read_attribute(session, object, CKA_EC_PARAMS);
  if (!params) return std::nullopt;
  try {
    return sign_with_handle(session, object, algorithm_of(key_type, *params), message);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::unavailable) throw;
    return std::nullopt;
  }
}

}  // namespace

std::vector<InventoryItem> take_inventory(SessionPool& pool, const InventoryChallenge& challenge) {
  return pool.run([&challenge](Session& session) {
    std::vector<InventoryItem> items;
    const std::vector<CK_OBJECT_HANDLE> objects = find_objects(session, AttributeList{});
    for (const CK_OBJECT_HANDLE object : objects) {
      InventoryItem item{read_object_attributes(session, object), std::nullopt, std::nullopt};
      if (item.attributes.object_class == CKO_PUBLIC_KEY && item.attributes.key_type) {
        item.public_key_sha256 = public_key_hash(session, object, *item.attributes.key_type);
      }
      if (challenge && item.attributes.object_class == CKO_PRIVATE_KEY && item.attributes.key_type) {
        item.proof = prove(session, object, *item.attributes.key_type, challenge(items.size()));
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

std::vector<ObjectAttributes> destroy_keys_if(SessionPool& pool,
                                              const std::function<bool(const ObjectAttributes&)>& doomed) {
  return pool.run([&doomed](Session& session) {
    std::vector<std::pair<CK_OBJECT_HANDLE, ObjectAttributes>> chosen;
    for (const CK_OBJECT_CLASS object_class : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
      AttributeList filter;
      filter.add_ulong(CKA_CLASS, object_class);
      for (const CK_OBJECT_HANDLE object : find_objects(session, filter)) {
        ObjectAttributes attributes = read_object_attributes(session, object);
        if (doomed(attributes)) chosen.emplace_back(object, std::move(attributes));
      }
    }
    std::vector<ObjectAttributes> destroyed;
    const std::unique_lock changing(token_objects_lock());  // after the searches: they share it
    for (auto& [object, attributes] : chosen) {
      check(session.fn()->C_DestroyObject(session.handle(), object), "C_DestroyObject");
      destroyed.push_back(std::move(attributes));
    }
    return destroyed;
  });
}

std::size_t destroy_unreadable_objects(SessionPool& pool, std::size_t at_most) {
  return pool.run([at_most](Session& session) {
    std::vector<CK_OBJECT_HANDLE> unreadable;
    for (const CK_OBJECT_HANDLE object : find_objects(session, AttributeList{})) {
      if (!read_object_class(session, object)) unreadable.push_back(object);
    }
    if (unreadable.size() > at_most) {
      throw Error(ErrorKind::internal, "the token holds " + std::to_string(unreadable.size()) +
                                            " objects whose class it cannot read; destroyed none");
    }
    const std::unique_lock changing(token_objects_lock());  // after the search: it shares it
    for (const CK_OBJECT_HANDLE object : unreadable) {
      check(session.fn()->C_DestroyObject(session.handle(), object), "C_DestroyObject (unreadable object)");
    }
    return unreadable.size();
  });
}

}  // namespace escrowless::pkcs11
