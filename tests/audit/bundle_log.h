// A transparency log in memory for the bundle verification tests: a log key and device identity
// keys made by OpenSSL, entries built with the audit core's own types, checkpoints signed as
// signed notes, and bundle responses shaped as api/prekey_routes.cc serves them. Mutations that
// need a key (a checkpoint signed by another key, a prekey signed but never logged) use the
// signers here.
#pragma once

#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "audit/hash.h"
#include "audit/key_algorithm.h"
#include "audit/log_entry.h"
#include "audit/openssl_ptr.h"
#include "audit/prekey_batch.h"
#include "audit/verifier_key.h"

namespace escrowless::audit::test {

// A key pair made by OpenSSL that signs as the token does: pure Ed25519, or ECDSA P-256 over
// SHA-256 with the signature as raw r || s.
class TestSigner {
 public:
  explicit TestSigner(KeyAlgorithm algorithm);

  KeyAlgorithm algorithm() const { return algorithm_; }
  const std::vector<uint8_t>& public_key() const { return public_key_; }  // raw: 32 or 65 bytes
  std::vector<uint8_t> sign(std::span<const uint8_t> message) const;

 private:
  KeyAlgorithm algorithm_;
  EvpPkeyPtr key_;
  std::vector<uint8_t> public_key_;
};

struct TestDevice {
  std::string account;
  std::string device;
  TestSigner identity;
  uint64_t enrolled_index = 0;
  // The device's last upload: its entry, where it is, and the keys of its batches.
  std::optional<uint64_t> prekeys_index;
  PrekeysSigned prekeys;
  std::vector<PrekeyBatchItem> one_time;
  std::vector<PrekeyBatchItem> pq_one_time;
};

class BundleLog {
 public:
  BundleLog();

  const VerifierKey& verifier() const { return verifier_; }
  const std::string& origin() const { return origin_; }
  uint64_t size() const { return leaves_.size(); }

  // Logs a device.enrolled entry for a new identity key.
  TestDevice& enroll(const std::string& account, const std::string& device,
                     KeyAlgorithm algorithm = KeyAlgorithm::ed25519);

  // Signs and logs (one prekeys.signed entry) a signed prekey (key id 1), a last-resort PQ
  // prekey (2), `one_time` X25519 one-time prekeys (ids 100...) and `pq_one_time` ML-KEM-768 ones
  // (500...), with random public keys.
  void upload(TestDevice& device, uint32_t one_time, uint32_t pq_one_time);

  // Any entry bytes (the verifier reads only the entries a bundle names).
  void append(std::vector<uint8_t> entry);

  // A bundles response for `devices` at the current size, handing out the one-time prekeys at
  // batch index `one_time_index` (when the device has that many).
  nlohmann::json response(const std::vector<const TestDevice*>& devices, uint32_t one_time_index = 0) const;

  // A checkpoint note for (size, root) under this log's origin, signed by `signer` as `name`.
  std::string checkpoint(uint64_t size, const Hash& root, const TestSigner& signer, const std::string& name) const;
  std::string checkpoint() const;  // the genuine one at the current size

  // {"index", "data", "inclusion_proof"} of one entry at the current size, as responses carry it.
  nlohmann::json entry_json(uint64_t index) const;

  Hash root(uint64_t size) const;
  std::vector<Hash> inclusion_proof(uint64_t index, uint64_t size) const;

  // The identity key's signature over the prekey message of (kind, key id, public key).
  static std::vector<uint8_t> sign_prekey(const TestDevice& device, PrekeyKind kind, uint32_t key_id,
                                          std::span<const uint8_t> public_key);

 private:
  std::string origin_;
  TestSigner log_key_;
  VerifierKey verifier_;
  std::vector<Hash> leaves_;
  std::vector<std::vector<uint8_t>> data_;
  std::deque<TestDevice> devices_;  // stable addresses
};

std::vector<uint8_t> random_bytes(std::size_t size);

}  // namespace escrowless::audit::test
