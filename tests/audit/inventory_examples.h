// Schema 2 inventories of the example log (entry_examples.h), with real proofs of possession:
// the RFC 8032 7.1 TEST 1 secret key is the log key's, TEST 2's the device key's, so every
// proof is a deterministic Ed25519 signature anyone can recompute.
#pragma once

#include <openssl/evp.h>

#include <string_view>
#include <vector>

#include "audit/encoding.h"
#include "audit/hash.h"
#include "audit/inventory_parts.h"
#include "audit/merkle.h"
#include "audit/openssl_ptr.h"
#include "tests/audit/entry_examples.h"

namespace escrowless::audit::test {

inline constexpr std::string_view kLogKeySecretHex =  // RFC 8032 7.1 TEST 1
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
inline constexpr std::string_view kDeviceKeySecretHex =  // RFC 8032 7.1 TEST 2
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

inline std::vector<uint8_t> ed25519_sign(std::span<const uint8_t> secret, std::span<const uint8_t> message) {
  const EvpPkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, secret.data(), secret.size()));
  const EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  std::vector<uint8_t> signature(64);
  size_t size = signature.size();
  if (!key || !ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &size, message.data(), message.size()) != 1) {
    throw std::runtime_error("Ed25519 signing failed");
  }
  return signature;
}

// The tree of the example log's first three entries (provisioned, enrolled, prekeys.signed):
// the checkpoint the example inventory, logged as entry 3, binds its proofs to.
inline InventoryCheckpoint example_checkpoint() {
  std::vector<Hash> leaves;
  for (const LogEntry& entry : {LogEntry{example_hsm_provisioned()}, LogEntry{example_device_enrolled()},
                                LogEntry{example_prekeys_signed()}}) {
    leaves.push_back(leaf_hash(entry.to_bytes()));
  }
  return {leaves.size(), root_of(leaves)};
}

// The example inventory whole: the log key and the device key, both halves, each private key
// with its proof; the mechanisms SoftHSM offers for Ed25519 (key pair generation, EdDSA).
inline WholeInventory example_whole_inventory() {
  WholeInventory inventory;
  inventory.time = example_time("2026-11-27T00:00:00.000Z");
  inventory.token = example_token();
  const std::vector<uint8_t> id = hex_decode("5eed0f1a2b3c4d5e6f708192a3b4c5d6");
  std::copy(id.begin(), id.end(), inventory.id.begin());
  inventory.checkpoint = example_checkpoint();
  inventory.mechanisms = {{0x1055, 255, 255, 0x10000}, {0x1057, 255, 255, 0x2800}};
  inventory.objects = example_hsm_inventory().objects;
  for (std::size_t position = 0; position < inventory.objects.size(); ++position) {
    InventoryObject& object = inventory.objects[position];
    if (object.object_class != ObjectClass::private_key) continue;
    const bool is_log_key = object.label == log_key().label;
    const std::vector<uint8_t> secret = hex_decode(is_log_key ? kLogKeySecretHex : kDeviceKeySecretHex);
    object.proof = ed25519_sign(secret, inventory_proof_message(kOrigin, inventory.checkpoint, inventory.id, position));
  }
  return inventory;
}

// Its parts as docs/log-format.md shows them: split small, to show two parts (the server splits
// at kMaxPartEntrySize).
inline std::vector<HsmInventory> example_inventory_parts() { return split_inventory(example_whole_inventory(), 2100); }

}  // namespace escrowless::audit::test
