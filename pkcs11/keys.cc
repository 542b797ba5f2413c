#include "pkcs11/keys.h"

#include <atomic>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>

#include "pkcs11/error.h"
#include "pkcs11/key_generation.h"
#include "pkcs11/object_attributes.h"
#include "pkcs11/object_lock.h"

namespace escrowless::pkcs11 {
namespace {

constexpr std::size_t kSignatureSize = 64;

bool is_stale_handle(const Error& error) {
  return error.rv() == CKR_OBJECT_HANDLE_INVALID || error.rv() == CKR_KEY_HANDLE_INVALID;
}

std::atomic<std::uint64_t> ambiguous_lookups{0};

// The one object of `object_class` with this CKA_ID, if any.
std::optional<CK_OBJECT_HANDLE> find_one(Session& session, CK_OBJECT_CLASS object_class,
                                         std::span<const std::uint8_t> id) {
  AttributeList filter;
  filter.add_ulong(CKA_CLASS, object_class).add_bytes(CKA_ID, id);
  const auto found = find_objects(session, filter);
  if (found.empty()) return std::nullopt;
  if (found.size() > 1) {
    ambiguous_lookups.fetch_add(1, std::memory_order_relaxed);
    throw Error(ErrorKind::ambiguous_key, std::to_string(found.size()) + " " +
                                              std::string(object_class_name(object_class)) +
                                              " objects share one CKA_ID");
  }
  return found.front();
}

struct Handles {
  CK_OBJECT_HANDLE public_handle;
  CK_OBJECT_HANDLE private_handle;
};

// The key's handles for the pool's current login, looked up again when the pool has logged in
// since they were found, or when `stale` says the token rejected them.
Handles current_handles(Session& session, const SessionPool& pool, const KeyPair& key, bool stale) {
  KeyHandles& cache = *key.handles;
  std::lock_guard lock(cache.mutex);
  const std::uint64_t logins = pool.login_count();
  if (!stale && cache.login_count == logins && cache.private_handle != CK_INVALID_HANDLE) {
    return {cache.public_handle, cache.private_handle};
  }
  const auto private_handle = find_one(session, CKO_PRIVATE_KEY, key.id);
  if (!private_handle && !session.user_logged_in()) {
    // Private objects are invisible without a login: let the pool log in again and retry.
    throw Error(ErrorKind::authentication, "C_FindObjects: the token logged us out",
                CKR_USER_NOT_LOGGED_IN);
  }
  const auto public_handle = find_one(session, CKO_PUBLIC_KEY, key.id);
  if (!private_handle || !public_handle) {
    throw Error(ErrorKind::not_found, "key '" + key.label + "' is no longer on the token");
  }
  cache.private_handle = *private_handle;
  cache.public_handle = *public_handle;
  cache.login_count = logins;
  return {cache.public_handle, cache.private_handle};
}

// Runs op(session, handles) on a pooled session with the key's current handles, retrying once
// with freshly found handles if the token says they are no longer valid.
template <class Op>
auto with_handles(SessionPool& pool, const KeyPair& key, Op op) {
  return pool.run([&](Session& session) {
    try {
      return op(session, current_handles(session, pool, key, false));
    } catch (const Error& error) {
      if (!is_stale_handle(error)) throw;
    }
    return op(session, current_handles(session, pool, key, true));
  });
}

std::optional<KeyPair> find_key_pair(Session& session, const SessionPool& pool,
                                     CK_ATTRIBUTE_TYPE type, std::span<const std::uint8_t> value,
                                     std::string_view what) {
  const std::uint64_t logins = pool.login_count();
  AttributeList private_filter;
  private_filter.add_ulong(CKA_CLASS, CKO_PRIVATE_KEY).add_bytes(type, value);
  const auto privates = find_objects(session, private_filter);
  if (privates.empty()) return std::nullopt;
  if (privates.size() > 1) {
    ambiguous_lookups.fetch_add(1, std::memory_order_relaxed);
    throw Error(ErrorKind::ambiguous_key,
                std::to_string(privates.size()) + " private keys have this " + std::string(what));
  }
  KeyPair key;
  const CK_OBJECT_HANDLE private_handle = privates.front();
  const ObjectAttributes attributes = read_object_attributes(session, private_handle);
  key.id = attributes.id;
  key.label = attributes.label;
  const auto public_handle = find_one(session, CKO_PUBLIC_KEY, key.id);
  if (!public_handle) {
    throw Error(ErrorKind::not_found, "private key '" + key.label + "' has no public key with its CKA_ID");
  }
  const auto key_type = read_attribute(session, *public_handle, CKA_KEY_TYPE);
  const auto params = read_attribute(session, *public_handle, CKA_EC_PARAMS);
  const auto point = read_attribute(session, *public_handle, CKA_EC_POINT);
  if (!key_type || key_type->size() != sizeof(CK_KEY_TYPE) || !params || !point) {
    throw Error(ErrorKind::invalid_input, "key '" + key.label + "' is not an EC or EdDSA key");
  }
  CK_KEY_TYPE type_value = 0;
  std::copy(key_type->begin(), key_type->end(), reinterpret_cast<std::uint8_t*>(&type_value));
  key.public_key = decode_ec_point(algorithm_of(type_value, *params), *point);
  key.handles->private_handle = private_handle;
  key.handles->public_handle = *public_handle;
  key.handles->login_count = logins;
  return key;
}

std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> message) {
  std::array<std::uint8_t, 32> digest{};
  unsigned int size = 0;
  if (EVP_Digest(message.data(), message.size(), digest.data(), &size, EVP_sha256(), nullptr) !=
          1 ||
      size != digest.size()) {
    throw Error(ErrorKind::internal, "EVP_Digest(SHA-256) failed");
  }
  return digest;
}

}  // namespace

KeyPairTemplate signing_key_template(Algorithm algorithm, std::span<const std::uint8_t> id,
                                     std::string_view label) {
  if (id.empty() || id.size() > 64) throw Error(ErrorKind::invalid_input, "key id must be 1 to 64 bytes");
  if (label.empty() || label.size() > 128) {
    throw Error(ErrorKind::invalid_input, "key label must be 1 to 128 bytes");
  }
  const bool ed25519 = algorithm == Algorithm::ed25519;
  const CK_KEY_TYPE key_type = ed25519 ? CKK_EC_EDWARDS : CKK_EC;
  KeyPairTemplate t{ed25519 ? CKM_EC_EDWARDS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, {}, {}};

  t.public_key.attributes.add_ulong(CKA_CLASS, CKO_PUBLIC_KEY)
      .add_ulong(CKA_KEY_TYPE, key_type)
      .add_bytes(CKA_EC_PARAMS, ec_params(algorithm))
      .add_bytes(CKA_ID, id)
      .add_string(CKA_LABEL, label)
      .add_bool(CKA_TOKEN, true)
      .add_bool(CKA_PRIVATE, false)
      .add_bool(CKA_MODIFIABLE, false)
      .add_bool(CKA_VERIFY, true)
      .add_bool(CKA_VERIFY_RECOVER, false)
      .add_bool(CKA_ENCRYPT, false)
      .add_bool(CKA_WRAP, false)
      .add_bool(CKA_DERIVE, false);

  t.private_key.attributes.add_ulong(CKA_CLASS, CKO_PRIVATE_KEY)
      .add_ulong(CKA_KEY_TYPE, key_type)
      .add_bytes(CKA_ID, id)
      .add_string(CKA_LABEL, label)
      .add_bool(CKA_TOKEN, true)
      .add_bool(CKA_PRIVATE, true)
      .add_bool(CKA_SENSITIVE, true)
      .add_bool(CKA_EXTRACTABLE, false)
      .add_bool(CKA_MODIFIABLE, false)
      .add_bool(CKA_COPYABLE, false)
      .add_bool(CKA_SIGN, true)
      .add_bool(CKA_SIGN_RECOVER, false)
      .add_bool(CKA_DECRYPT, false)
      .add_bool(CKA_UNWRAP, false)
      .add_bool(CKA_DERIVE, false);
  return t;
}

KeyPair generate_key_pair(SessionPool& pool, Algorithm algorithm, std::span<const std::uint8_t> id,
                          std::string_view label, KeyUniqueness uniqueness) {
  const KeyPairTemplate t = signing_key_template(algorithm, id, label);
  return pool.run([&](Session& session) {
    if (uniqueness == KeyUniqueness::checked) {
      const auto label_bytes = std::span(reinterpret_cast<const std::uint8_t*>(label.data()), label.size());
      if (find_key_pair(session, pool, CKA_LABEL, label_bytes, "label")) {
        throw Error(ErrorKind::invalid_input, "a key labelled '" + std::string(label) + "' already exists");
      }
      AttributeList id_filter;
      id_filter.add_bytes(CKA_ID, id);
      if (!find_objects(session, id_filter).empty()) {
        throw Error(ErrorKind::invalid_input, "an object with this key id already exists");
      }
    }
    KeyPair key;
    key.handles->login_count = pool.login_count();
    // Searches of this process wait while it generates (object_lock.h).
    const std::unique_lock changing(token_objects_lock());
    GeneratedPair made = generate_negotiated(session, t);
    key.handles->public_handle = made.public_handle;
    key.handles->private_handle = made.private_handle;
    key.generation = std::make_shared<const KeyGenerationReport>(std::move(made.report));
    key.id.assign(id.begin(), id.end());
    key.label = std::string(label);
    const auto point = read_attribute(session, key.handles->public_handle, CKA_EC_POINT);
    if (!point) throw Error(ErrorKind::internal, "new public key has no CKA_EC_POINT");
    key.public_key = decode_ec_point(algorithm, *point);
    return key;
  });
}

std::optional<KeyPair> find_key_pair_by_label(SessionPool& pool, std::string_view label) {
  const auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(label.data()), label.size());
  return pool.run([&](Session& session) { return find_key_pair(session, pool, CKA_LABEL, bytes, "label"); });
}

std::optional<KeyPair> find_key_pair_by_id(SessionPool& pool, std::span<const std::uint8_t> id) {
  return pool.run([&](Session& session) { return find_key_pair(session, pool, CKA_ID, id, "id"); });
}

std::uint64_t ambiguous_key_lookups() { return ambiguous_lookups.load(std::memory_order_relaxed); }

std::vector<std::uint8_t> sign_with_handle(Session& session, CK_OBJECT_HANDLE private_key,
                                           Algorithm algorithm, std::span<const std::uint8_t> message) {
  const bool ed25519 = algorithm == Algorithm::ed25519;
  std::array<std::uint8_t, 32> digest{};
  std::span<const std::uint8_t> input = message;
  if (!ed25519) {
    digest = sha256(message);
    input = digest;
  }
  CK_MECHANISM mechanism{ed25519 ? CKM_EDDSA : CKM_ECDSA, nullptr, 0};
  check(session.fn()->C_SignInit(session.handle(), &mechanism, private_key), "C_SignInit");
  std::vector<std::uint8_t> signature(kSignatureSize);
  CK_ULONG size = signature.size();
  // Never a null pointer, even for an empty message: modules reject it (CKR_ARGUMENTS_BAD).
  static std::uint8_t empty = 0;
  std::uint8_t* data = input.empty() ? &empty : const_cast<std::uint8_t*>(input.data());
  check(session.fn()->C_Sign(session.handle(), data, input.size(), signature.data(), &size), "C_Sign");
  if (size != kSignatureSize) {
    throw Error(ErrorKind::internal, "token returned a signature of " + std::to_string(size) +
                                         " bytes, expected 64");
  }
  return signature;
}

std::vector<std::uint8_t> sign(SessionPool& pool, const KeyPair& key,
                               std::span<const std::uint8_t> message) {
  return with_handles(pool, key, [&](Session& session, Handles handles) {
    return sign_with_handle(session, handles.private_handle, key.public_key.algorithm, message);
  });
}

KeyPairAttributes read_key_pair_attributes(SessionPool& pool, const KeyPair& key) {
  return with_handles(pool, key, [](Session& session, Handles handles) {
    return KeyPairAttributes{read_object_attributes(session, handles.public_handle),
                             read_object_attributes(session, handles.private_handle)};
  });
}

void destroy_key_pair(SessionPool& pool, const KeyPair& key) {
  with_handles(pool, key, [](Session& session, Handles handles) {
    const std::unique_lock changing(token_objects_lock());
    check(session.fn()->C_DestroyObject(session.handle(), handles.private_handle),
          "C_DestroyObject (private key)");
    check(session.fn()->C_DestroyObject(session.handle(), handles.public_handle),
          "C_DestroyObject (public key)");
  });
  std::lock_guard lock(key.handles->mutex);
  key.handles->private_handle = CK_INVALID_HANDLE;
  key.handles->public_handle = CK_INVALID_HANDLE;
}

CK_OBJECT_HANDLE KeyPair::public_handle() const {
  std::lock_guard lock(handles->mutex);
  return handles->public_handle;
}

CK_OBJECT_HANDLE KeyPair::private_handle() const {
  std::lock_guard lock(handles->mutex);
  return handles->private_handle;
}

std::vector<std::uint8_t> random_key_id() {
  std::vector<std::uint8_t> id(16);
  if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) {
    throw Error(ErrorKind::internal, "RAND_bytes failed");
  }
  return id;
}

}  // namespace escrowless::pkcs11
