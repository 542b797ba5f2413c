#include "keyservice/store/device_backend.h"

#include <openssl/crypto.h>

#include <utility>

#include "keyservice/error.h"

namespace escrowless::keyservice {

StoredPrekey ReservedKey::hand_out() && {
  key.batch = PrekeyBatchPosition{index, std::move(leaves)};
  return std::move(key);
}

std::vector<ReservedKey> reserve_keys(std::vector<ClaimedRow> rows,
                                      std::shared_ptr<const std::vector<audit::Hash>> leaves) {
  std::vector<ReservedKey> keys;
  keys.reserve(rows.size());
  for (ClaimedRow& row : rows) {
    if (row.batch_index < 0 || static_cast<std::uint64_t>(row.batch_index) >= leaves->size()) {
      throw Error(ErrorKind::integrity, "the device store holds a malformed prekey batch index");
    }
    // The batch's leaves count against the bound in equal shares.
    constexpr std::size_t kHeapBlock = 16;  // malloc's overhead per allocation, about
    const std::size_t bytes = sizeof(ReservedKey) + row.key.key.public_key.size() + row.key.key.signature.size() +
                              2 * kHeapBlock + (leaves->size() * audit::kHashSize) / rows.size() + 1;
    keys.push_back({std::move(row.key), leaves, static_cast<std::uint32_t>(row.batch_index), bytes});
  }
  return keys;
}

bool same_credential(std::span<const std::uint8_t> stored, std::span<const std::uint8_t> presented) {
  return stored.size() == audit::kHashSize && presented.size() == audit::kHashSize &&
         CRYPTO_memcmp(stored.data(), presented.data(), audit::kHashSize) == 0;
}

}  // namespace escrowless::keyservice
