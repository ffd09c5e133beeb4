// RateLimiter: one token bucket per key (SPEC §2 STEMEDB_RATE_LIMIT).
//
// Buckets are sharded by key_id hash (one small mutex per shard), so one noisy
// key contends only with keys of its own shard and never with the I/O threads
// of other shards for long. Idle buckets are dropped after a while to keep
// memory bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
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

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stemedb::auth
