#include "auth/rate_limiter.h"

#include <algorithm>
#include <array>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace stemedb::auth {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kShards = 16;
constexpr auto kSweepInterval = std::chrono::seconds(10);

struct Bucket {
  double tokens = 0;
  double rate = 0;
  double burst = 0;
  Clock::time_point last;
};

// Heterogeneous lookup so Acquire(string_view) does not allocate.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

struct Shard {
  mutable std::mutex mu;
  std::unordered_map<std::string, Bucket, StringHash, std::equal_to<>> buckets;
  Clock::time_point last_sweep;
};

void Refill(Bucket* b, Clock::time_point now) {
  if (now > b->last) {
    double elapsed = std::chrono::duration<double>(now - b->last).count();
    b->tokens = std::min(b->burst, b->tokens + elapsed * b->rate);
    b->last = now;
  }
}

}  // namespace

class RateLimiter::Impl {
 public:
  explicit Impl(RateLimitSpec spec) : default_spec_(spec) {}

  RateDecision Acquire(std::string_view key_id, const std::optional<RateLimitSpec>& override_spec,
                       Clock::time_point now) {
    const RateLimitSpec& spec = override_spec ? *override_spec : default_spec_;
    Shard& shard = shards_[StringHash()(key_id) % kShards];
    std::lock_guard lock(shard.mu);
    if (now - shard.last_sweep >= kSweepInterval) Sweep(&shard, now);
    auto it = shard.buckets.find(key_id);
    if (it == shard.buckets.end()) {
      it = shard.buckets
               .emplace(std::string(key_id),
                        Bucket{spec.burst, spec.rate_per_second, spec.burst, now})
               .first;
    }
    Bucket& b = it->second;
    Refill(&b, now);
    if (b.rate != spec.rate_per_second || b.burst != spec.burst) {
      // The key's limit changed (a new default or override): keep what was
      // accumulated, within the new burst.
      b.rate = spec.rate_per_second;
      b.burst = spec.burst;
      b.tokens = std::min(b.tokens, b.burst);
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return RateDecision{true, 0};
    }
    return RateDecision{false, (1 - b.tokens) / b.rate};
  }

  size_t bucket_count() const {
    size_t n = 0;
    for (const Shard& shard : shards_) {
      std::lock_guard lock(shard.mu);
      n += shard.buckets.size();
    }
    return n;
  }

 private:
  static void Sweep(Shard* shard, Clock::time_point now) {
    shard->last_sweep = now;
    std::erase_if(shard->buckets, [now](const auto& entry) {
      Bucket b = entry.second;
      Refill(&b, now);
      return b.tokens >= b.burst;
    });
  }

  const RateLimitSpec default_spec_;
  std::array<Shard, kShards> shards_;
};

RateLimiter::RateLimiter(RateLimitSpec default_spec)
    : impl_(std::make_unique<Impl>(default_spec)) {}
RateLimiter::~RateLimiter() = default;
RateDecision RateLimiter::Acquire(std::string_view key_id, const std::optional<RateLimitSpec>& spec,
                                  std::chrono::steady_clock::time_point now) {
  return impl_->Acquire(key_id, spec, now);
}
size_t RateLimiter::bucket_count() const { return impl_->bucket_count(); }

}  // namespace stemedb::auth
