// UsageMeter: per-key and per-project metering (issue 5; docs/api.md /v1/usage).
//
// Counted on the hot path with relaxed atomics in a per-key slot (the slot
// map is read-mostly under a shared_mutex; a new key takes the exclusive lock
// once). Persisted to engine SystemTable::kUsage by Flush(), which the server
// calls every flush interval (default 10 s) and at shutdown: a crash loses at
// most the last interval. Load() restores the counters at startup.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/database.h"
#include "util/status.h"

namespace stemedb::auth {

struct UsageCounters {
  std::string key_id;
  std::string project;
  uint64_t requests = 0;
  uint64_t assertions_written = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t rate_limited = 0;
  int64_t last_used_at_us = 0;
};
// {"key_id","project","requests","assertions_written","bytes_in","bytes_out",
//  "rate_limited","last_used_at"} (last_used_at RFC 3339 or null). For a
// per-project sum (key_id "") "key_id" is left out; "project" is null for
// admin keys (project "").
std::string UsageJson(const UsageCounters& usage);

class UsageMeter {
 public:
  // `enabled` false (STEMEDB_METER_ENABLED=false): Record* do nothing.
  UsageMeter(engine::Database* db, bool enabled);
  ~UsageMeter();
  Status Load();
  bool enabled() const;

  // One finished request of `key_id` (project "" for admin keys).
  void RecordRequest(std::string_view key_id, std::string_view project, uint64_t bytes_in,
                     uint64_t bytes_out, int64_t now_us);
  void RecordAssertions(std::string_view key_id, std::string_view project, uint64_t count);
  void RecordRateLimited(std::string_view key_id, std::string_view project);

  std::optional<UsageCounters> ForKey(std::string_view key_id) const;
  std::vector<UsageCounters> AllKeys() const;
  // Sums per project (key_id ""), optionally only `project`; sorted by
  // project. Admin keys (project "") are not a project and are left out of
  // the unfiltered list.
  std::vector<UsageCounters> ByProject(std::optional<std::string_view> project) const;

  // Writes changed counters to the engine (one SystemEntry). Safe to call
  // concurrently with Record*; concurrent Flush calls are serialized. On
  // failure the counters stay marked changed and the next Flush retries.
  // Stored per key_id as compact JSON {"v":1,"key_id","project","requests",
  // "assertions_written","bytes_in","bytes_out","rate_limited",
  // "last_used_at_us"}.
  Status Flush();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stemedb::auth
