// RateLimiter: one token bucket per key (docs/configuration.md STEMEDB_RATE_LIMIT).
//
// Buckets are sharded by key_id hash (one small mutex per shard), so one noisy
// key contends only with keys of its own shard and never with the I/O threads
// of other shards for long. Idle buckets are dropped after a while to keep
// memory bounded: a shard sweeps at most every 10 s (of the caller's clock)
// and drops buckets that have refilled completely, which is unobservable
// because a new bucket starts full.
//
// A refused Acquire takes no token, so a client that keeps retrying early
// is not punished beyond the limit itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "auth/key_store.h"

namespace stemedb::auth {

struct RateDecision {
  bool allowed = true;
  // When refused: seconds until one token is available (for Retry-After,
  // rounded up to a whole second by the caller).
  double retry_after_seconds = 0;
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimitSpec default_spec);
  ~RateLimiter();
  // Takes one token from `key_id`'s bucket (created full on first use with
  // `spec` or the default). `now` is steady-clock time.
  RateDecision Acquire(std::string_view key_id, const std::optional<RateLimitSpec>& spec,
                       std::chrono::steady_clock::time_point now);
  // Buckets currently held (for tests and metrics).
  size_t bucket_count() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stemedb::auth
