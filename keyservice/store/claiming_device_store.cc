#include "keyservice/store/claiming_device_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include "keyservice/error.h"

namespace escrowless::keyservice {

ClaimingDeviceStore::ClaimingDeviceStore(std::unique_ptr<DeviceBackend> backend, std::size_t max_reserved_bytes)
    : backend_(std::move(backend)), reserve_(max_reserved_bytes), refiller_([this] { run_refiller(); }) {}

ClaimingDeviceStore::~ClaimingDeviceStore() {
  {
    const std::lock_guard queue(queue_mutex_);
    stopping_ = true;
  }
  claims_written_.notify_all();
  refiller_.join();
  try {
    return_reserves();
  } catch (const std::exception& e) {
    // Safe either way: the keys stay claimed, so none can be handed out twice.
    spdlog::error("one-time prekeys claimed ahead could not be put back ({}); they are lost", e.what());
  }
}

void ClaimingDeviceStore::return_reserves() {
  std::size_t lost = 0;
  const auto drained = reserve_.drain(lost);
  if (drained.empty()) return;
  std::vector<Rewind> rewinds;
  for (const auto& [rewind, count] : drained) rewinds.push_back(rewind);
  const std::vector<bool> done = backend_->put_back(rewinds);
  std::size_t returned = 0;
  for (std::size_t i = 0; i < drained.size(); ++i) {
    if (done[i]) {
      returned += drained[i].second;
    } else {
      lost += drained[i].second;
    }
  }
  spdlog::debug("{} one-time prekeys claimed ahead were put back", returned);
  if (lost > 0) {
    spdlog::info("{} one-time prekeys claimed ahead stay claimed: another store claimed after them", lost);
  }
}

void ClaimingDeviceStore::add_device(const Device& device, const audit::Hash& credential_sha256) {
  check_new_device(device);
  backend_->add_device(device, credential_sha256);
}

std::optional<Device> ClaimingDeviceStore::find_device(std::string_view account, std::string_view device) {
  check_ids(account, device);
  return backend_->find_device(account, device);
}

std::optional<Device> ClaimingDeviceStore::find_device_by_credential(std::span<const std::uint8_t> credential_sha256) {
  if (credential_sha256.size() != audit::kHashSize) {
    throw Error(ErrorKind::invalid_input,
                "a credential hash is 32 bytes, got " + std::to_string(credential_sha256.size()));
  }
  return backend_->find_device_by_credential(credential_sha256);
}

std::vector<Device> ClaimingDeviceStore::list_devices(std::string_view account) {
  check_id("account", account);
  return backend_->list_devices(account);
}

std::uint64_t ClaimingDeviceStore::count_active_devices(std::string_view account) {
  check_id("account", account);
  return backend_->count_active_devices(account);
}

void ClaimingDeviceStore::revoke_device(std::string_view account, std::string_view device,
                                        const Revocation& revocation) {
  check_ids(account, device);
  if (revocation.log_index > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Error(ErrorKind::invalid_input, "log index " + std::to_string(revocation.log_index) + " is out of range");
  }
  backend_->revoke_device(account, device, revocation, [this](std::int64_t row) { reserve_.drop(row, true, true); });
}

void ClaimingDeviceStore::store_prekeys(std::string_view account, std::string_view device,
                                        const PrekeyUpload& upload) {
  check_ids(account, device);
  check_prekey_upload(upload);
  // Claimed ahead from a list just replaced: never hand them out now.
  backend_->store_prekeys(account, device, upload, [&](std::int64_t row) {
    reserve_.drop(row, upload.one_time_prekeys.has_value(), upload.pq_one_time_prekeys.has_value());
  });
}

OneTimePrekeyCounts ClaimingDeviceStore::count_one_time_prekeys(std::string_view account, std::string_view device) {
  check_ids(account, device);
  auto [counts, row] = backend_->count_one_time_prekeys(account, device);
  const OneTimePrekeyCounts in_reserve = reserve_.counts(row);
  counts.one_time += in_reserve.one_time;
  counts.pq_one_time += in_reserve.pq_one_time;
  return counts;
}

std::optional<StoredPrekey> ClaimingDeviceStore::claim_one_time_prekey(std::string_view account,
                                                                       std::string_view device, PrekeyKind kind) {
  check_ids(account, device);
  if (!is_one_time(kind)) {
    throw Error(ErrorKind::invalid_input, "only one-time prekeys are claimed, not " + std::string(to_string(kind)));
  }
  Claim claim;
  backend_->write_claims(
      [&](ClaimTransaction& transaction) { claim = transaction.claim(transaction.active_device(account, device), kind, 1); },
      [] {});
  if (claim.keys.empty()) return std::nullopt;
  return std::move(claim.keys.front()).hand_out();
}

CurrentPrekeys ClaimingDeviceStore::current_prekeys(std::string_view account, std::string_view device) {
  check_ids(account, device);
  return backend_->current_prekeys(account, device);
}

DeviceStore::BundleMaterial ClaimingDeviceStore::take_bundle(std::string_view account, std::string_view device,
                                                             const std::optional<audit::Hash>& reader) {
  check_ids(account, device);
  std::string cache_key = std::string(account) + '\0' + std::string(device);
  const std::shared_ptr<const CachedCurrent> cached = current_cache_.find(cache_key);
  BundleMaterial material;
  // With the current prekeys cached, the snapshot need not read them (SQLite: one statement,
  // no BEGIN and COMMIT on the hottest read).
  BundleSnapshot snapshot;
  if (cached) snapshot = backend_->bundle_snapshot(account, device, reader, false);
  if (cached && cached->prekeys_index == snapshot.prekeys_index) {
    material.current = cached->current;
  } else {
    // Not cached, or new prekeys since: the device and its current prekeys, read together.
    snapshot = backend_->bundle_snapshot(account, device, reader, true);
    material.current = std::move(*snapshot.current);
    current_cache_.put(std::move(cache_key),
                       std::make_shared<const CachedCurrent>(CachedCurrent{snapshot.prekeys_index, material.current}));
  }
  material.device = std::move(snapshot.device);
  const std::int64_t row = snapshot.row_id;
  const auto [refill_x25519, refill_pq] =
      reserve_.take({row, snapshot.one_time, snapshot.pq_one_time, snapshot.one_time_list, snapshot.pq_one_time_list},
                    material.claimed, kRefillAt);
  if (refill_x25519 || refill_pq) {
    {
      const std::lock_guard queue(queue_mutex_);
      Refill& queued = refills_[row];
      queued.account = account;
      queued.device = device;
      queued.x25519 = queued.x25519 || refill_x25519;
      queued.pq = queued.pq || refill_pq;
    }
    claims_written_.notify_all();
  }
  const bool claim_x25519 = !material.claimed.one_time && snapshot.one_time;
  const bool claim_pq = !material.claimed.pq_one_time && snapshot.pq_one_time;
  if (!claim_x25519 && !claim_pq) return material;  // no write, no fsync

  ClaimRequest request;
  request.account = account;
  request.device = device;
  request.x25519 = claim_x25519;
  request.pq = claim_pq;
  request.ahead = reserve_.full() ? 1 : kClaimAhead;  // memory bound: claim one at a time
  claim_together(request);
  // The device may have been revoked or given new prekeys since the snapshot: the bundle is the
  // state read again in the claim's write transaction.
  material.current = std::move(request.current);
  if (claim_x25519) material.claimed.one_time = std::move(request.claimed.one_time);
  if (claim_pq) material.claimed.pq_one_time = std::move(request.claimed.pq_one_time);
  return material;
}

void ClaimingDeviceStore::claim_together(ClaimRequest& request) {
  std::unique_lock queue(queue_mutex_);
  claim_queue_.push_back(&request);
  while (!request.done) {
    if (claim_leader_) {
      claims_written_.wait(queue);
    } else {
      lead_group(queue);
    }
  }
  if (request.error) std::rethrow_exception(request.error);
}

void ClaimingDeviceStore::lead_group(std::unique_lock<std::mutex>& queue) {
  claim_leader_ = true;
  std::vector<ClaimRequest*> group = std::exchange(claim_queue_, {});
  const std::map<std::int64_t, Refill> refills = std::exchange(refills_, {});
  queue.unlock();
  std::vector<ClaimRequest> refill_requests(refills.size());
  std::size_t i = 0;
  for (const auto& [row, refill] : refills) {
    ClaimRequest& request = refill_requests[i++];
    request.account = refill.account;
    request.device = refill.device;
    request.x25519 = refill.x25519;
    request.pq = refill.pq;
    request.ahead = kClaimAhead;
    request.take = false;
    group.push_back(&request);
  }
  write_claims(group);  // reports every failure in the requests
  for (const ClaimRequest& request : refill_requests) {
    if (request.error) spdlog::debug("a refill of one-time prekeys claimed ahead failed; bundles will claim");
  }
  queue.lock();
  for (ClaimRequest* member : group) member->done = true;
  claim_leader_ = false;
  claims_written_.notify_all();
}

void ClaimingDeviceStore::run_refiller() {
  std::unique_lock queue(queue_mutex_);
  while (true) {
    claims_written_.wait(queue, [this] { return stopping_ || (!refills_.empty() && !claim_leader_); });
    if (stopping_) return;
    lead_group(queue);
  }
}

void ClaimingDeviceStore::write_claims(const std::vector<ClaimRequest*>& group) {
  std::vector<PrekeyReserve::Delivery> deliveries(group.size());
  std::vector<std::int64_t> rows;
  // Devices in one order on every node, so two nodes' groups lock rows in the same order and
  // never deadlock; requests of one device keep their order.
  std::vector<std::size_t> order(group.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::pair(group[a]->account, group[a]->device) < std::pair(group[b]->account, group[b]->device);
  });
  try {
    backend_->write_claims(
        [&](ClaimTransaction& transaction) {
          // Keys claimed ahead in this group per device and kind that no request has spoken for yet.
          std::map<std::int64_t, std::pair<std::size_t, std::size_t>> spare;
          for (const std::size_t i : order) {
            ClaimRequest& request = *group[i];
            PrekeyReserve::Delivery& delivery = deliveries[i];
            try {
              transaction.member([&] {
                const std::int64_t row = transaction.active_device(request.account, request.device);
                request.current = transaction.current(row);
                auto [spare_x25519, spare_pq] = spare[row];
                const auto claim = [&](bool wanted, std::size_t& spare_keys, PrekeyKind kind) {
                  Claim made;
                  if (!wanted) return made;
                  if (request.take && spare_keys > 0) {
                    --spare_keys;
                  } else {
                    made = transaction.claim(row, kind, request.ahead);
                    spare_keys += made.keys.size() - (request.take && !made.keys.empty() ? 1 : 0);
                  }
                  return made;
                };
                delivery = {row, claim(request.x25519, spare_x25519, PrekeyKind::one_time_prekey),
                            claim(request.pq, spare_pq, PrekeyKind::pq_one_time_prekey),
                            request.take && request.x25519, request.take && request.pq, &request.claimed};
                spare[row] = {spare_x25519, spare_pq};
              });
              rows.push_back(delivery.row);
              if (!delivery.one_time.keys.empty()) reserve_.arriving(delivery.row, PrekeyKind::one_time_prekey);
              if (!delivery.pq_one_time.keys.empty()) reserve_.arriving(delivery.row, PrekeyKind::pq_one_time_prekey);
            } catch (...) {
              request.error = std::current_exception();
              delivery = {};
            }
          }
        },
        // Before the backend's next write: an upload or revocation can't drop a device's reserve
        // before the keys claimed for it are in it.
        [&] {
          std::vector<PrekeyReserve::Delivery> delivered;
          for (const std::size_t i : order) {
            if (!group[i]->error) delivered.push_back(std::move(deliveries[i]));
          }
          reserve_.deliver(delivered);
        });
  } catch (...) {
    // Rolled back: nothing was claimed, so nothing is handed out.
    for (ClaimRequest* request : group) {
      if (!request->error) request->error = std::current_exception();
    }
    reserve_.not_arriving(rows);
  }
}

std::uint64_t ClaimingDeviceStore::reconciled_log_size() { return backend_->reconciled_log_size(); }

void ClaimingDeviceStore::set_reconciled_log_size(std::uint64_t size) {
  if (size > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Error(ErrorKind::invalid_input, "log index " + std::to_string(size) + " is out of range");
  }
  backend_->set_reconciled_log_size(size);
}

std::uint64_t ClaimingDeviceStore::log_size_needed() { return backend_->log_size_needed(); }

}  // namespace escrowless::keyservice
