#include "keyservice/store/prekeys.h"

#include <cstdint>
#include <limits>
#include <set>
#include <string>

#include "audit/merkle.h"
#include "audit/prekey_batch.h"
#include "keyservice/error.h"

namespace escrowless::keyservice {
namespace {

[[noreturn]] void invalid(const std::string& message) {
  throw Error(ErrorKind::invalid_input, message);
}

void check_key(std::string_view field, PrekeyKind kind, const audit::SignedPrekey& key) {
  const std::size_t size = audit::prekey_size(kind);
  if (key.public_key.size() != size) {
    const char* name = size == audit::kX25519KeySize ? "X25519" : "ML-KEM-768";
    invalid(std::string(field) + ".public_key: " + name + " keys are " + std::to_string(size) +
            " bytes, got " + std::to_string(key.public_key.size()));
  }
  if (key.signature.size() != audit::kPrekeySignatureSize) {
    invalid(std::string(field) + ".signature: signatures are 64 bytes, got " +
            std::to_string(key.signature.size()));
  }
}

void check_batch(std::string_view field, PrekeyKind kind,
                 const std::vector<audit::SignedPrekey>& keys) {
  if (keys.empty() || keys.size() > audit::kMaxPrekeyBatch) {
    invalid(std::string(field) + ": a batch has 1 to " + std::to_string(audit::kMaxPrekeyBatch) +
            " keys, got " + std::to_string(keys.size()));
  }
  std::set<std::uint32_t> ids;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    check_key(std::string(field) + "[" + std::to_string(i) + "]", kind, keys[i]);
    if (!ids.insert(keys[i].key_id).second) {
      invalid(std::string(field) + ": key id " + std::to_string(keys[i].key_id) + " appears twice");
    }
  }
}

}  // namespace

const std::vector<audit::Hash>& PrekeyBatchPosition::leaves() const noexcept {
  static const std::vector<audit::Hash> none;
  return leaf_hashes ? *leaf_hashes : none;
}

audit::Hash PrekeyBatchPosition::root() const { return audit::root_of(leaves()); }

std::vector<audit::Hash> PrekeyBatchPosition::path() const {
  if (index >= count()) {
    throw Error(ErrorKind::internal, "batch position " + std::to_string(index) +
                                         " is outside a batch of " + std::to_string(count()));
  }
  return audit::PrekeyBatchTree(leaves()).path(index);
}

void check_prekey_upload(const PrekeyUpload& upload) {
  if (!upload.signed_prekey && !upload.pq_last_resort_prekey && !upload.one_time_prekeys &&
      !upload.pq_one_time_prekeys) {
    invalid("a prekey upload needs at least one kind of prekey");
  }
  if (upload.log_index > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    invalid("log index " + std::to_string(upload.log_index) + " is out of range");
  }
  if (upload.signed_prekey) {
    check_key("signed_prekey", PrekeyKind::signed_prekey, *upload.signed_prekey);
  }
  if (upload.pq_last_resort_prekey) {
    check_key("pq_last_resort_prekey", PrekeyKind::pq_last_resort_prekey,
              *upload.pq_last_resort_prekey);
  }
  if (upload.one_time_prekeys) {
    check_batch("one_time_prekeys", PrekeyKind::one_time_prekey, *upload.one_time_prekeys);
  }
  if (upload.pq_one_time_prekeys) {
    check_batch("pq_one_time_prekeys", PrekeyKind::pq_one_time_prekey, *upload.pq_one_time_prekeys);
  }
}

}  // namespace escrowless::keyservice
