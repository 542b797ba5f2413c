// The DeviceStore logic every backend shares, over a DeviceBackend that holds only SQL and
// transactions (device_backend.h):
//
// - One-time keys claimed ahead (prekey_reserve.h): a bundle claims up to kClaimAhead keys of a
//   kind at once and hands the rest out from memory; a clean shutdown puts unclaimed ones back.
// - Group commit: claims of concurrent bundles are written together. A bundle that must claim
//   queues its request; the first one to find no group being written leads, takes every queued
//   request into one write transaction (one fsync for all), puts what each claimed into the
//   reserve and wakes the others. Each request runs under its own savepoint, so one that fails
//   (a device revoked meanwhile) fails alone; a failed commit fails them all and claims nothing.
//   A request for a device an earlier request of the group claimed ahead for takes one of those
//   keys instead of claiming more.
// - The refiller thread: when a bundle leaves kRefillAt keys of a kind in a device's reserve, a
//   refill of kClaimAhead more joins the next group, so a device fetched often finds its next
//   keys claimed before its reserve runs out.
// - The current prekeys (signed and last-resort) of recently fetched devices, with the
//   prekeys_index they were read at. Every upload stores a new, higher prekeys_index (in this
//   process or on another node), and every bundle reads the device's prekeys_index in its
//   snapshot, so a cached entry is used only while it is still the stored one.
//
// Nothing here is trusted across processes or nodes: every call reads the device (revocation,
// credential, prekeys_index, the stored one-time lists) from the database in its own snapshot,
// and the caches only stand in for what that snapshot proves unchanged. A revocation committed
// through any node is therefore honoured by every node's next call.
//
// Locks: queue_mutex_ (the claim queue) is never held while a backend call runs; the reserve has
// its own lock, taken inside the backend's `committed` callbacks but never around a backend call.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "keyservice/store/bounded_cache.h"
#include "keyservice/store/device_backend.h"
#include "keyservice/store/prekey_reserve.h"

namespace escrowless::keyservice {

class ClaimingDeviceStore : public DeviceStore {
 public:
  // One-time keys claimed ahead per kind and device, and the memory they may hold in all
  // reserves together by default: an X25519 key about 0.4 KB, an ML-KEM-768 key about 1.6 KB
  // (with its share of its batch's leaf hashes), so 64 MiB hold 40,000 to 160,000 keys.
  static constexpr std::size_t kClaimAhead = 32;
  // A device's reserve of a kind is refilled in the background when a bundle leaves this many.
  static constexpr std::size_t kRefillAt = 8;
  static constexpr std::size_t kMaxReservedBytes = std::size_t{64} << 20;
  // Devices whose current prekeys are cached (about 1.5 KB each).
  static constexpr std::size_t kMaxCachedCurrent = 4096;

  ClaimingDeviceStore(std::unique_ptr<DeviceBackend> backend, std::size_t max_reserved_bytes);
  // Puts the one-time keys claimed ahead and not handed out back into the database, so a clean
  // shutdown loses none (a crash loses them; none is ever handed out twice).
  ~ClaimingDeviceStore() override;

  // The memory the keys claimed ahead hold now, as counted against the bound.
  std::size_t reserved_bytes() { return reserve_.bytes(); }

  void add_device(const Device& device, const audit::Hash& credential_sha256) override;
  std::optional<Device> find_device(std::string_view account, std::string_view device) override;
  std::optional<Device> find_device_by_credential(std::span<const std::uint8_t> credential_sha256) override;
  std::vector<Device> list_devices(std::string_view account) override;
  std::uint64_t count_active_devices(std::string_view account) override;
  void revoke_device(std::string_view account, std::string_view device, const Revocation& revocation) override;
  void store_prekeys(std::string_view account, std::string_view device, const PrekeyUpload& upload) override;
  OneTimePrekeyCounts count_one_time_prekeys(std::string_view account, std::string_view device) override;
  std::optional<StoredPrekey> claim_one_time_prekey(std::string_view account, std::string_view device,
                                                    PrekeyKind kind) override;
  CurrentPrekeys current_prekeys(std::string_view account, std::string_view device) override;
  BundleMaterial take_bundle(std::string_view account, std::string_view device,
                             const std::optional<audit::Hash>& reader) override;
  std::uint64_t reconciled_log_size() override;
  void set_reconciled_log_size(std::uint64_t size) override;
  std::uint64_t log_size_needed() override;

 private:
  struct ClaimRequest {
    std::string_view account, device;
    bool x25519 = false, pq = false;
    std::size_t ahead = 0;
    bool take = true;  // false: a refill
    // Set by the group's leader:
    bool done = false;
    std::exception_ptr error;
    CurrentPrekeys current;
    ClaimedPrekeys claimed;
  };
  struct Refill {
    std::string account, device;
    bool x25519 = false, pq = false;
  };
  void claim_together(ClaimRequest& request);
  // Leads one group: the queued requests and refills. queue_mutex_ held on entry and on return.
  void lead_group(std::unique_lock<std::mutex>& queue);
  void write_claims(const std::vector<ClaimRequest*>& group);
  void run_refiller();
  void return_reserves();

  const std::unique_ptr<DeviceBackend> backend_;
  PrekeyReserve reserve_;

  std::mutex queue_mutex_;
  std::condition_variable claims_written_;
  std::vector<ClaimRequest*> claim_queue_;
  std::map<std::int64_t, Refill> refills_;  // by device row
  bool claim_leader_ = false;
  bool stopping_ = false;

  struct CachedCurrent {
    std::int64_t prekeys_index = 0;
    CurrentPrekeys current;
  };
  BoundedCache<std::string, CachedCurrent> current_cache_{kMaxCachedCurrent};  // by account, NUL, device

  std::thread refiller_;  // last: started when everything above is ready
};

}  // namespace escrowless::keyservice
