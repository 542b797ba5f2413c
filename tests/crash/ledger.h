// What the crash test's clients were told: every write the server acknowledged, every checkpoint
// it served, every one-time prekey it handed out. Shared by the load threads (under one mutex)
// and read by the checks between kills.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace escrowless::crashtest {

// A LogReceipt from a 2xx answer: where the write's entry is and the checkpoint covering it.
struct Receipt {
  std::uint64_t index = 0;
  std::uint64_t tree_size = 0;
  std::string checkpoint;
  std::vector<std::string> inclusion_proof;  // base64 hashes
  static Receipt from_json(const nlohmann::json& log);
};

enum class WriteKind { enrolled, uploaded, revoked };

struct AckedWrite {
  WriteKind kind = WriteKind::enrolled;
  std::string account, device;
  std::string identity_key_sha256;     // enrolled
  std::string signed_prekey_signature;  // uploaded: base64, as answered
  Receipt receipt;
};

// A device the clients know a credential of. Uploads give each one-time key a fresh id, so a
// key id seen twice in bundles is a key handed out twice.
struct KnownDevice {
  std::string account, device, credential, identity_key_sha256;
  std::uint32_t next_key_id = 1;
  bool has_prekeys = false;      // an upload was acknowledged
  bool revoking = false;         // a revocation was sent; no other use from then on
  bool revoke_unanswered = false;  // ... and got no answer: retried after the restart
  bool revoked = false;          // acknowledged
};

class Ledger {
 public:
  std::mutex mutex;  // guards everything below

  std::vector<AckedWrite> writes;           // in acknowledgement order
  std::vector<KnownDevice> devices;
  std::set<std::string> served_checkpoints;  // signed notes, since the last check took them
  std::uint64_t max_served_size = 0;         // over the whole run
  // One-time prekey ids handed out, by "account/device/kind".
  std::map<std::string, std::set<std::uint32_t>> handed_out;
  std::vector<std::string> failures;  // what the clients saw that must never happen
  std::map<std::string, int> outcomes;  // "enroll 201", "upload no answer", ... for the summary

  // Each records under the mutex the caller holds.
  void serve(const std::string& note, std::uint64_t size);
  void count(const std::string& what) { ++outcomes[what]; }
};

}  // namespace escrowless::crashtest
