#include "auth/usage_meter.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include "auth/stored_record.h"
#include "util/time_format.h"

namespace stemedb::auth {
namespace {

// One key's counters. Updated with relaxed atomics: each counter is exact on
// its own, and a reader (Flush, /v1/usage) may see one request's bytes
// before its request count, which is harmless for metering.
struct Slot {
  std::string key_id;
  std::string project;
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> assertions_written{0};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<int64_t> last_used_at_us{0};
  // Set after every change, cleared by Flush before it reads the counters,
  // so a change racing with a flush is written by the next one.
  std::atomic<bool> dirty{false};

  // Load's counterpart of Snapshot: the counters as last flushed.
  void Restore(const UsageCounters& c) {
    requests.store(c.requests);
    assertions_written.store(c.assertions_written);
    bytes_in.store(c.bytes_in);
    bytes_out.store(c.bytes_out);
    rate_limited.store(c.rate_limited);
    last_used_at_us.store(c.last_used_at_us);
    dirty.store(false);
  }

  UsageCounters Snapshot() const {
    UsageCounters c;
    c.key_id = key_id;
    c.project = project;
    c.requests = requests.load(std::memory_order_relaxed);
    c.assertions_written = assertions_written.load(std::memory_order_relaxed);
    c.bytes_in = bytes_in.load(std::memory_order_relaxed);
    c.bytes_out = bytes_out.load(std::memory_order_relaxed);
    c.rate_limited = rate_limited.load(std::memory_order_relaxed);
    c.last_used_at_us = last_used_at_us.load(std::memory_order_relaxed);
    return c;
  }
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

// The counters the storage form and UsageJson share, in this order.
void PutCounters(const UsageCounters& c, boost::json::object* o) {
  (*o)["requests"] = c.requests;
  (*o)["assertions_written"] = c.assertions_written;
  (*o)["bytes_in"] = c.bytes_in;
  (*o)["bytes_out"] = c.bytes_out;
  (*o)["rate_limited"] = c.rate_limited;
}

// Storage form in engine SystemTable::kUsage, keyed by key_id.
std::string EncodeUsage(const UsageCounters& c) {
  boost::json::object o;
  o["v"] = 1;
  o["key_id"] = c.key_id;
  o["project"] = c.project;
  PutCounters(c, &o);
  o["last_used_at_us"] = c.last_used_at_us;
  return boost::json::serialize(o);
}

Result<UsageCounters> DecodeUsage(std::string_view key, std::string_view value) {
  Result<boost::json::object> parsed = ParseStoredObject(value, "usage record " + std::string(key));
  if (!parsed) return parsed.error();
  const boost::json::object& o = *parsed;
  UsageCounters c;
  c.key_id = std::string(key);
  c.project = GetString(o, "project");
  c.requests = GetU64(o, "requests");
  c.assertions_written = GetU64(o, "assertions_written");
  c.bytes_in = GetU64(o, "bytes_in");
  c.bytes_out = GetU64(o, "bytes_out");
  c.rate_limited = GetU64(o, "rate_limited");
  c.last_used_at_us = static_cast<int64_t>(GetU64(o, "last_used_at_us"));
  return c;
}

}  // namespace

std::string UsageJson(const UsageCounters& usage) {
  boost::json::object o;
  if (!usage.key_id.empty()) o["key_id"] = usage.key_id;
  if (usage.project.empty()) {
    o["project"] = nullptr;
  } else {
    o["project"] = usage.project;
  }
  PutCounters(usage, &o);
  if (usage.last_used_at_us == 0) {
    o["last_used_at"] = nullptr;
  } else {
    o["last_used_at"] = FormatRfc3339(usage.last_used_at_us);
  }
  return boost::json::serialize(o);
}

class UsageMeter::Impl {
 public:
  Impl(engine::Database* db, bool enabled) : db_(db), enabled_(enabled) {}

  bool enabled() const { return enabled_; }

  Status Load() {
    return ScanStoredRecords(db_, engine::SystemTable::kUsage, "usage load", DecodeUsage,
                             [this](std::string_view key, const UsageCounters& c) {
                               GetOrCreate(key, c.project)->Restore(c);
                             });
  }

  void RecordRequest(std::string_view key_id, std::string_view project, uint64_t bytes_in,
                     uint64_t bytes_out, int64_t now_us) {
    if (!enabled_) return;
    Slot* s = GetOrCreate(key_id, project);
    s->requests.fetch_add(1, std::memory_order_relaxed);
    s->bytes_in.fetch_add(bytes_in, std::memory_order_relaxed);
    s->bytes_out.fetch_add(bytes_out, std::memory_order_relaxed);
    // Monotonic max: requests finishing out of order never move it back.
    int64_t seen = s->last_used_at_us.load(std::memory_order_relaxed);
    while (seen < now_us &&
           !s->last_used_at_us.compare_exchange_weak(seen, now_us, std::memory_order_relaxed)) {
    }
    s->dirty.store(true, std::memory_order_release);
  }

  void RecordAssertions(std::string_view key_id, std::string_view project, uint64_t count) {
    if (!enabled_) return;
    Slot* s = GetOrCreate(key_id, project);
    s->assertions_written.fetch_add(count, std::memory_order_relaxed);
    s->dirty.store(true, std::memory_order_release);
  }

  void RecordRateLimited(std::string_view key_id, std::string_view project) {
    if (!enabled_) return;
    Slot* s = GetOrCreate(key_id, project);
    s->rate_limited.fetch_add(1, std::memory_order_relaxed);
    s->dirty.store(true, std::memory_order_release);
  }

  std::optional<UsageCounters> ForKey(std::string_view key_id) const {
    std::shared_lock lock(mu_);
    auto it = slots_.find(key_id);
    if (it == slots_.end()) return std::nullopt;
    return it->second->Snapshot();
  }

  std::vector<UsageCounters> AllKeys() const {
    std::vector<UsageCounters> out;
    {
      std::shared_lock lock(mu_);
      out.reserve(slots_.size());
      for (const auto& [key_id, slot] : slots_) out.push_back(slot->Snapshot());
    }
    std::sort(out.begin(), out.end(),
              [](const UsageCounters& a, const UsageCounters& b) { return a.key_id < b.key_id; });
    return out;
  }

  std::vector<UsageCounters> ByProject(std::optional<std::string_view> project) const {
    std::map<std::string, UsageCounters, std::less<>> sums;
    for (const UsageCounters& c : AllKeys()) {
      if (project ? c.project != *project : c.project.empty()) continue;
      UsageCounters& sum = sums[c.project];
      sum.project = c.project;
      sum.requests += c.requests;
      sum.assertions_written += c.assertions_written;
      sum.bytes_in += c.bytes_in;
      sum.bytes_out += c.bytes_out;
      sum.rate_limited += c.rate_limited;
      sum.last_used_at_us = std::max(sum.last_used_at_us, c.last_used_at_us);
    }
    std::vector<UsageCounters> out;
    out.reserve(sums.size());
    for (auto& [name, sum] : sums) out.push_back(std::move(sum));
    return out;
  }

  Status Flush() {
    std::lock_guard flush_lock(flush_mu_);
    std::vector<Slot*> flushed;
    engine::SystemEntry entry;
    {
      std::shared_lock lock(mu_);
      for (const auto& [key_id, slot] : slots_) {
        if (!slot->dirty.exchange(false, std::memory_order_acq_rel)) continue;
        flushed.push_back(slot.get());
        entry.writes.push_back(engine::SystemWrite{engine::SystemTable::kUsage, key_id,
                                                   EncodeUsage(slot->Snapshot())});
      }
    }
    if (entry.writes.empty()) return Status::OK();
    Result<engine::CommitInfo> done = db_->Submit(std::move(entry));
    if (!done) {
      // Slots are never removed, so the pointers are still valid.
      for (Slot* slot : flushed) slot->dirty.store(true, std::memory_order_release);
      return done.error().WithContext("usage flush");
    }
    return Status::OK();
  }

 private:
  Slot* GetOrCreate(std::string_view key_id, std::string_view project) {
    {
      std::shared_lock lock(mu_);
      auto it = slots_.find(key_id);
      if (it != slots_.end()) return it->second.get();
    }
    std::unique_lock lock(mu_);
    auto [it, inserted] = slots_.try_emplace(std::string(key_id));
    if (inserted) {
      it->second = std::make_unique<Slot>();
      it->second->key_id = std::string(key_id);
      it->second->project = std::string(project);
    }
    return it->second.get();
  }

  engine::Database* db_;
  const bool enabled_;
  std::mutex flush_mu_;
  // Read-mostly: the exclusive lock is taken once per new key.
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Slot>, StringHash, std::equal_to<>> slots_;
};

UsageMeter::UsageMeter(engine::Database* db, bool enabled)
    : impl_(std::make_unique<Impl>(db, enabled)) {}
UsageMeter::~UsageMeter() = default;
Status UsageMeter::Load() { return impl_->Load(); }
bool UsageMeter::enabled() const { return impl_->enabled(); }
void UsageMeter::RecordRequest(std::string_view key_id, std::string_view project, uint64_t bytes_in,
                               uint64_t bytes_out, int64_t now_us) {
  impl_->RecordRequest(key_id, project, bytes_in, bytes_out, now_us);
}
void UsageMeter::RecordAssertions(std::string_view key_id, std::string_view project,
                                  uint64_t count) {
  impl_->RecordAssertions(key_id, project, count);
}
void UsageMeter::RecordRateLimited(std::string_view key_id, std::string_view project) {
  impl_->RecordRateLimited(key_id, project);
}
std::optional<UsageCounters> UsageMeter::ForKey(std::string_view key_id) const {
  return impl_->ForKey(key_id);
}
std::vector<UsageCounters> UsageMeter::AllKeys() const { return impl_->AllKeys(); }
std::vector<UsageCounters> UsageMeter::ByProject(std::optional<std::string_view> project) const {
  return impl_->ByProject(project);
}
Status UsageMeter::Flush() { return impl_->Flush(); }

}  // namespace stemedb::auth
