#include "keyservice/store/prekey_reserve.h"

#include <algorithm>

namespace escrowless::keyservice {

std::size_t PrekeyReserve::bytes() {
  const std::lock_guard lock(mutex_);
  return bytes_;
}

bool PrekeyReserve::full() {
  const std::lock_guard lock(mutex_);
  return bytes_ >= max_bytes_;
}

std::pair<bool, bool> PrekeyReserve::take(const Wanted& wanted, ClaimedPrekeys& claimed, std::size_t refill_at) {
  bool refill_one_time = false, refill_pq = false;
  std::unique_lock lock(mutex_);
  const auto take_all = [&] {
    const auto found = reserves_.find(wanted.row);
    if (found == reserves_.end()) return;
    Reserve& reserve = found->second;
    for (auto [queue, list, into, refill] :
         {std::tuple{&reserve.one_time, wanted.one_time_list, &claimed.one_time, &refill_one_time},
          std::tuple{&reserve.pq_one_time, wanted.pq_list, &claimed.pq_one_time, &refill_pq}}) {
      if (*into || queue->keys.empty()) continue;
      // Claimed from a list the database no longer holds: replaced, maybe on another node.
      // (Keys of a newer list than the snapshot's are claimed since it was read: left alone.)
      const auto from_list = static_cast<std::int64_t>(queue->keys.front().key.log_index);
      if (from_list < list) clear_locked(*queue);
      if (from_list != list) continue;
      if (take_locked(*queue, *into)) *refill = queue->keys.size() == refill_at;
    }
    if (reserve.empty()) reserves_.erase(found);
  };
  take_all();
  // A kind that neither the snapshot nor the reserve had may be on its way into the reserve
  // (claimed and committed after the snapshot): wait for it rather than go out without one.
  const auto arriving = [&] {
    return (!claimed.one_time && !wanted.stored_one_time &&
            in_flight_.contains({wanted.row, PrekeyKind::one_time_prekey})) ||
           (!claimed.pq_one_time && !wanted.stored_pq &&
            in_flight_.contains({wanted.row, PrekeyKind::pq_one_time_prekey}));
  };
  if (arriving()) {
    changed_.wait(lock, [&] { return !arriving(); });
    take_all();
  }
  if (bytes_ >= max_bytes_) return {false, false};  // memory bound: refill nothing
  return {refill_one_time, refill_pq};
}

void PrekeyReserve::deliver(std::span<Delivery> group) {
  {
    const std::lock_guard lock(mutex_);
    for (Delivery& d : group) {
      Reserve& reserve = reserves_[d.row];
      add_locked(reserve.one_time, std::move(d.one_time));
      add_locked(reserve.pq_one_time, std::move(d.pq_one_time));
      if (d.take_one_time) take_locked(reserve.one_time, d.into->one_time);
      if (d.take_pq) take_locked(reserve.pq_one_time, d.into->pq_one_time);
      if (reserve.empty()) reserves_.erase(d.row);
    }
    for (const Delivery& d : group) forget_in_flight_locked(d.row);
  }
  changed_.notify_all();
}

void PrekeyReserve::arriving(std::int64_t row, PrekeyKind kind) {
  const std::lock_guard lock(mutex_);
  in_flight_.insert({row, kind});
}

void PrekeyReserve::not_arriving(std::span<const std::int64_t> rows) {
  {
    const std::lock_guard lock(mutex_);
    for (const std::int64_t row : rows) forget_in_flight_locked(row);
  }
  changed_.notify_all();
}

void PrekeyReserve::drop(std::int64_t row, bool one_time, bool pq_one_time) {
  const std::lock_guard lock(mutex_);
  const auto found = reserves_.find(row);
  if (found == reserves_.end()) return;
  if (one_time) clear_locked(found->second.one_time);
  if (pq_one_time) clear_locked(found->second.pq_one_time);
  if (found->second.empty()) reserves_.erase(found);
}

OneTimePrekeyCounts PrekeyReserve::counts(std::int64_t row) {
  const std::lock_guard lock(mutex_);
  const auto found = reserves_.find(row);
  if (found == reserves_.end()) return {};
  return {found->second.one_time.keys.size(), found->second.pq_one_time.keys.size()};
}

std::vector<std::pair<Rewind, std::size_t>> PrekeyReserve::drain(std::size_t& lost) {
  const std::lock_guard lock(mutex_);
  std::vector<std::pair<Rewind, std::size_t>> rewinds;
  lost = 0;
  for (const auto& [row, reserve] : reserves_) {
    for (const auto& [queue, kind] : {std::pair{&reserve.one_time, PrekeyKind::one_time_prekey},
                                      std::pair{&reserve.pq_one_time, PrekeyKind::pq_one_time_prekey}}) {
      if (queue->keys.empty()) continue;
      // Moving the cursor back gives back every key from there to where it is. That is safe only
      // for keys of the last run of our claims, and only if no one (another store or process)
      // has claimed since: then all of them are still here. Older keys stay claimed (lost).
      const std::int64_t back_to = std::max<std::int64_t>(queue->keys.front().key.key.key_id, queue->run_start);
      const auto in_run = static_cast<std::size_t>(std::count_if(
          queue->keys.begin(), queue->keys.end(), [&](const ReservedKey& key) { return key.key.key.key_id >= back_to; }));
      lost += queue->keys.size() - in_run;
      rewinds.push_back({Rewind{row, kind, static_cast<std::int64_t>(queue->keys.front().key.log_index), back_to,
                                queue->run_end},
                         in_run});
    }
  }
  reserves_.clear();
  bytes_ = 0;
  return rewinds;
}

void PrekeyReserve::add_locked(Queue& queue, Claim claim) {
  if (claim.keys.empty()) return;
  // Keys of an older list than the new claim's are stale.
  if (!queue.keys.empty() && queue.keys.front().key.log_index != claim.keys.front().key.log_index) clear_locked(queue);
  if (claim.from != queue.run_end) queue.run_start = claim.keys.front().key.key.key_id;  // a new run
  queue.run_end = claim.to;
  for (ReservedKey& key : claim.keys) {
    bytes_ += key.bytes;
    queue.keys.push_back(std::move(key));
  }
}

bool PrekeyReserve::take_locked(Queue& queue, std::optional<StoredPrekey>& into) {
  if (queue.keys.empty()) return false;
  // Handed out in place, into the caller's optional: moving a StoredPrekey through a returned
  // std::optional is what GCC 12 at -O1 with ThreadSanitizer wrongly reports as maybe
  // uninitialized.
  bytes_ -= queue.keys.front().bytes;
  into.emplace(std::move(queue.keys.front()).hand_out());
  queue.keys.pop_front();
  return true;
}

void PrekeyReserve::clear_locked(Queue& queue) {
  for (const ReservedKey& key : queue.keys) bytes_ -= key.bytes;
  queue = {};
}

void PrekeyReserve::forget_in_flight_locked(std::int64_t row) {
  in_flight_.erase({row, PrekeyKind::one_time_prekey});
  in_flight_.erase({row, PrekeyKind::pq_one_time_prekey});
}

}  // namespace escrowless::keyservice
