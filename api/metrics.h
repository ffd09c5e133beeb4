// Metrics: every Prometheus series of docs/metrics.md (and RocksDB/process health),
// registered once in one prometheus::Registry and served at GET /metrics.
//
// Label cardinality is bounded: `route` is a route template, `project`
// labels are capped (after kMaxProjectLabels distinct projects the rest are
// counted under project="_other").
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "engine/database.h"
#include "wal/wal.h"

namespace stemedb::api {

class Metrics {
 public:
  static constexpr size_t kMaxProjectLabels = 200;
  Metrics();
  ~Metrics();

  // The WalProbe to put into WalOptions (fsync latency, group commit size).
  wal::WalProbe* wal_probe();

  void ObserveRequest(std::string_view route, std::string_view method, unsigned status,
                      std::chrono::nanoseconds duration);
  void AddAssertionsWritten(std::string_view project, uint64_t count);
  void AddRateLimited(std::string_view project);
  void SetDiskFree(std::string_view volume, uint64_t bytes);
  void SetReplaySeconds(double seconds);
  // Continuous WAL archiving (backup/wal_archiver.h), set by its owner once
  // a second; 0 while archiving is off. `failures_total` is the archiver's
  // running count (the counter follows it).
  void SetWalArchive(uint64_t archived_lsn, double lag_seconds, uint64_t lag_bytes,
                     uint64_t failures_total);
  // Warm standby (backup/wal_follower.h), set once a second: 1 while this
  // server follows the archive, and how far behind it is (0 otherwise).
  void SetStandby(bool standby, uint64_t lag_lsn, double lag_seconds);
  // The writer epoch this server archives as, and 1 once it was fenced off
  // (backup/wal_archiver.h FENCING).
  void SetWriterEpoch(uint64_t epoch, bool fenced);
  // Pulls applied LSN, WAL bytes, RocksDB stats from the database.
  void UpdateFromDatabase(engine::Database& db);
  // Prometheus text exposition format of everything (refreshes the process
  // metrics from /proc/self first).
  std::string Render();

  // --- transport and state (added by the transport; additive) -----------
  void SetConnectionsActive(size_t active);
  void AddConnectionRejected();
  // 1 while /v1/ready would answer 200.
  void SetReady(bool ready);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stemedb::api
