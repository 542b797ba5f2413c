#include <catch2/catch.hpp>

#include <chrono>

#include "api/rate_limit.h"

using escrowless::api::RateLimit;
using escrowless::api::RateLimiter;
using namespace std::chrono_literals;

TEST_CASE("rate limit: a burst passes then the bucket refills at the rate", "[unit]") {
  RateLimiter limiter(RateLimit{2, 3});  // 2 per second, 3 at once
  const auto t0 = RateLimiter::Clock::time_point{} + 1h;
  CHECK_FALSE(limiter.take("a", t0));
  CHECK_FALSE(limiter.take("a", t0));
  CHECK_FALSE(limiter.take("a", t0));
  const auto refused = limiter.take("a", t0);
  REQUIRE(refused);
  CHECK(*refused == 1);  // half a second to the next token, rounded up to whole seconds
  // Another key has a bucket of its own.
  CHECK_FALSE(limiter.take("b", t0));
  // Half a second later one token is back, and only one.
  CHECK_FALSE(limiter.take("a", t0 + 500ms));
  CHECK(limiter.take("a", t0 + 500ms));
  // A long pause refills to the burst, never beyond.
  for (int i = 0; i < 3; ++i) CHECK_FALSE(limiter.take("a", t0 + 1h));
  CHECK(limiter.take("a", t0 + 1h));
}

TEST_CASE("rate limit: Retry-After covers the wait for a slow rate, and 0 means no limit", "[unit]") {
  RateLimiter slow(RateLimit{0.25, 1});  // one every 4 s
  const auto t0 = RateLimiter::Clock::time_point{} + 1h;
  CHECK_FALSE(slow.take("a", t0));
  CHECK(slow.take("a", t0) == 4);
  CHECK(slow.take("a", t0 + 3s) == 1);
  CHECK_FALSE(slow.take("a", t0 + 4s));

  RateLimiter off(RateLimit{0, 1});
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(off.take("a", t0));
}

TEST_CASE("rate limit: memory stays bounded under a flood of keys", "[unit]") {
  RateLimiter limiter(RateLimit{1, 1}, 100);
  const auto t0 = RateLimiter::Clock::time_point{} + 1h;
  for (int i = 0; i < 10000; ++i) {
    CHECK_FALSE(limiter.take("k" + std::to_string(i), t0));
    CHECK(limiter.keys() <= 100);
  }
  // A key seen long ago was dropped or has refilled: it passes either way.
  CHECK_FALSE(limiter.take("k0", t0 + 10s));
}
