// Token buckets that bound how fast one caller may use an expensive route: each key (a client
// address, or the SHA-256 of a bearer credential: never the credential itself) has a bucket of
// `burst` tokens refilled at `per_second`; a request takes one token or is refused with the
// seconds until the next token (429 with Retry-After).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace escrowless::api {

struct RateLimit {
  double per_second = 0;  // 0: no limit
  double burst = 1;       // requests allowed at once after a quiet spell; at least 1
  bool enabled() const { return per_second > 0; }
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `max_keys` bounds memory: when exceeded, buckets that have refilled completely (idle keys,
  // indistinguishable from new ones) are dropped first.
  explicit RateLimiter(RateLimit limit, std::size_t max_keys = 100000) : limit_(limit), max_keys_(max_keys) {}

  // Takes a token from `key`'s bucket: nullopt when allowed, else the whole seconds (at least 1)
  // until one will be there.
  std::optional<int> take(std::string_view key, Clock::time_point now = Clock::now());

  const RateLimit& limit() const { return limit_; }
  std::size_t keys() const;  // buckets held now

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  void prune(Clock::time_point now);

  const RateLimit limit_;
  const std::size_t max_keys_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace escrowless::api
