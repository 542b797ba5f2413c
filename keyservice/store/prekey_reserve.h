// One-time prekeys claimed ahead, in memory, per device and kind. A bundle that needs a one-time
// key claims up to ClaimingDeviceStore::kClaimAhead of each kind in one durable transaction and
// hands the rest out from here, so fetches pay one fsync per kClaimAhead keys instead of one each.
// A key is claimed in the database (its list's cursor moved past it) before it is put here, so
// none is ever handed out twice; a crash loses the reserve (at most kClaimAhead keys of each kind
// per device, which devices replenish as they do any other shortfall).
//
// Each key remembers its list (the log index of the upload that stored it). A bundle hands a key
// out only if its snapshot of the database names the same list: keys of a list replaced since,
// in this process or on another node, are dropped, never served.
//
// Thread-safe: one mutex, and one condition variable for keys on their way in.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "keyservice/store/device_backend.h"

namespace escrowless::keyservice {

class PrekeyReserve {
 public:
  explicit PrekeyReserve(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // The memory the keys hold now, as counted against the bound, and whether it is reached.
  std::size_t bytes();
  bool full();

  // What one bundle takes: for each kind not yet `claimed`, the first key of the device's queue
  // if it comes from the list the bundle's snapshot names (log indices, -1 none). A
  // kind the snapshot found no unclaimed key of (`stored`) but that is on its way in (claimed
  // and committed after the snapshot) is waited for. Returns, per kind, whether its queue was
  // left with exactly `refill_at` keys (time to claim more in the background).
  struct Wanted {
    std::int64_t row = 0;
    bool stored_one_time = false, stored_pq = false;
    std::int64_t one_time_list = -1, pq_list = -1;
  };
  std::pair<bool, bool> take(const Wanted& wanted, ClaimedPrekeys& claimed, std::size_t refill_at);

  // After a group's transaction committed: its claims go in, in group order (so a request that
  // counted on an earlier one's spare keys finds them), each request taking its own keys into
  // `into` if it takes any; then the keys are no longer arriving.
  struct Delivery {
    std::int64_t row = 0;
    Claim one_time, pq_one_time;
    bool take_one_time = false, take_pq = false;
    ClaimedPrekeys* into = nullptr;
  };
  void deliver(std::span<Delivery> group);

  // Keys of (row, kind) are committed or about to be and not yet in: bundles wait for them.
  void arriving(std::int64_t row, PrekeyKind kind);
  // They will never come (the group failed): wakes the waiters.
  void not_arriving(std::span<const std::int64_t> rows);

  // Drops the device's keys of the kinds given (a list replaced, the device revoked).
  void drop(std::int64_t row, bool one_time, bool pq_one_time);
  OneTimePrekeyCounts counts(std::int64_t row);

  // Empties the reserve and says how to give its keys back: per device and kind, the rewind
  // of the last run of claims (older keys stay claimed), and how many keys it gives back.
  std::vector<std::pair<Rewind, std::size_t>> drain(std::size_t& lost);

 private:
  struct Queue {
    std::deque<ReservedKey> keys;  // lowest key id first, all of one list
    // The latest run of this store's claims with no one else's in between: its first key id, and
    // the cursor its last claim left (-1: none). What is left of it can be given back.
    std::int64_t run_start = 0, run_end = -1;
  };
  struct Reserve {
    Queue one_time, pq_one_time;
    bool empty() const { return one_time.keys.empty() && pq_one_time.keys.empty(); }
    Queue& of(PrekeyKind kind) { return kind == PrekeyKind::one_time_prekey ? one_time : pq_one_time; }
  };
  // Lock held: each as the public call.
  void add_locked(Queue& queue, Claim claim);
  bool take_locked(Queue& queue, std::optional<StoredPrekey>& into);
  void clear_locked(Queue& queue);
  void forget_in_flight_locked(std::int64_t row);

  const std::size_t max_bytes_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::unordered_map<std::int64_t, Reserve> reserves_;  // by device row
  std::size_t bytes_ = 0;
  std::set<std::pair<std::int64_t, PrekeyKind>> in_flight_;
};

}  // namespace escrowless::keyservice
