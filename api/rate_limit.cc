#include "api/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace escrowless::api {

std::optional<int> RateLimiter::take(std::string_view key, Clock::time_point now) {
  if (!limit_.enabled()) return std::nullopt;
  const double burst = std::max(1.0, limit_.burst);
  std::lock_guard lock(mutex_);
  auto found = buckets_.find(std::string(key));
  if (found == buckets_.end()) {
    if (buckets_.size() >= max_keys_) prune(now);
    found = buckets_.emplace(std::string(key), Bucket{burst, now}).first;
  }
  Bucket& bucket = found->second;
  const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  bucket.tokens = std::min(burst, bucket.tokens + std::max(0.0, elapsed) * limit_.per_second);
  bucket.updated = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  return std::max(1, static_cast<int>(std::ceil((1 - bucket.tokens) / limit_.per_second)));
}

std::size_t RateLimiter::keys() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

void RateLimiter::prune(Clock::time_point now) {
  const double burst = std::max(1.0, limit_.burst);
  std::erase_if(buckets_, [&](const auto& entry) {
    const double elapsed = std::chrono::duration<double>(now - entry.second.updated).count();
    return entry.second.tokens + elapsed * limit_.per_second >= burst;
  });
  // Still full of busy keys: start afresh rather than grow without bound (a flood of addresses).
  if (buckets_.size() >= max_keys_) buckets_.clear();
}

}  // namespace escrowless::api
