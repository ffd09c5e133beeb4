// Token buckets over explicit time points (no sleeping, no timing asserts).
#include "auth/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace stemedb::auth {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RateLimiterTest, BurstThenRefuseWithRetryAfter) {
  RateLimiter limiter(RateLimitSpec{2, 5});
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.Acquire("k1", std::nullopt, t0).allowed) << i;
  RateDecision refused = limiter.Acquire("k1", std::nullopt, t0);
  EXPECT_FALSE(refused.allowed);
  // Empty bucket at 2 tokens/s: one token in 0.5 s.
  EXPECT_NEAR(refused.retry_after_seconds, 0.5, 1e-9);
  // 0.2 s later 0.4 tokens have accumulated: 0.3 s to go.
  refused = limiter.Acquire("k1", std::nullopt, t0 + milliseconds(200));
  EXPECT_FALSE(refused.allowed);
  EXPECT_NEAR(refused.retry_after_seconds, 0.3, 1e-9);
}

TEST(RateLimiterTest, RefillsOverTimeUpToBurst) {
  RateLimiter limiter(RateLimitSpec{10, 3});
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Acquire("k", std::nullopt, t0).allowed);
  ASSERT_FALSE(limiter.Acquire("k", std::nullopt, t0).allowed);
  // 100 ms at 10/s = exactly one token.
  EXPECT_TRUE(limiter.Acquire("k", std::nullopt, t0 + milliseconds(100)).allowed);
  EXPECT_FALSE(limiter.Acquire("k", std::nullopt, t0 + milliseconds(100)).allowed);
  // A long pause refills only up to the burst.
  const Clock::time_point later = t0 + seconds(60);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Acquire("k", std::nullopt, later).allowed);
  EXPECT_FALSE(limiter.Acquire("k", std::nullopt, later).allowed);
  // A clock that goes backwards (another thread's older time point) adds nothing.
  EXPECT_FALSE(limiter.Acquire("k", std::nullopt, t0).allowed);
}

TEST(RateLimiterTest, PerKeyOverrideAndIndependentKeys) {
  RateLimiter limiter(RateLimitSpec{1000, 1000});
  const std::optional<RateLimitSpec> tight = RateLimitSpec{1, 2};
  const Clock::time_point t0 = Clock::now();
  EXPECT_TRUE(limiter.Acquire("noisy", tight, t0).allowed);
  EXPECT_TRUE(limiter.Acquire("noisy", tight, t0).allowed);
  RateDecision d = limiter.Acquire("noisy", tight, t0);
  EXPECT_FALSE(d.allowed);
  EXPECT_NEAR(d.retry_after_seconds, 1.0, 1e-9);
  // Another key (default limit) is unaffected by the noisy one.
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(limiter.Acquire("quiet", std::nullopt, t0).allowed);
  EXPECT_FALSE(limiter.Acquire("noisy", tight, t0).allowed);
  // Two keys with the same tight override have separate buckets.
  EXPECT_TRUE(limiter.Acquire("noisy2", tight, t0).allowed);
}

TEST(RateLimiterTest, RefusedRequestsTakeNoToken) {
  RateLimiter limiter(RateLimitSpec{1, 1});
  const Clock::time_point t0 = Clock::now();
  ASSERT_TRUE(limiter.Acquire("k", std::nullopt, t0).allowed);
  for (int i = 1; i < 10; ++i) {
    ASSERT_FALSE(limiter.Acquire("k", std::nullopt, t0 + milliseconds(i * 50)).allowed);
  }
  EXPECT_TRUE(limiter.Acquire("k", std::nullopt, t0 + milliseconds(1000)).allowed);
}

TEST(RateLimiterTest, IdleFullBucketsAreEvicted) {
  RateLimiter limiter(RateLimitSpec{10, 10});
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(limiter.Acquire("key" + std::to_string(i), std::nullopt, t0).allowed);
  }
  EXPECT_EQ(limiter.bucket_count(), 100u);
  // Each bucket refills in 0.1 s; after the sweep interval every shard that
  // is touched drops its full buckets. Touch every shard via many keys.
  const Clock::time_point later = t0 + seconds(11);
  for (int i = 0; i < 200; ++i) {
    (void)limiter.Acquire("other" + std::to_string(i), std::nullopt, later);
  }
  EXPECT_EQ(limiter.bucket_count(), 200u);
  // The evicted state was "full", exactly what a new bucket starts with.
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(limiter.Acquire("key0", std::nullopt, later).allowed);
  }
  EXPECT_FALSE(limiter.Acquire("key0", std::nullopt, later).allowed);
}

}  // namespace
}  // namespace stemedb::auth
