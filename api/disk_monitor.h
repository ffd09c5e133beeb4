// DiskMonitor: watches free space on the WAL and DB volumes (docs/configuration.md
// STEMEDB_MIN_FREE_BYTES, issue 5 "disk-space protection").
//
// A background thread polls Env::GetFreeSpace for each volume once per
// `interval`. While any volume is below `min_free_bytes`, writes_allowed()
// is false: the router answers writes with 507 and reads go on. When space
// returns, the next poll flips it back on its own; there is no alarm to
// clear by hand (etcd #9992). Liveness never depends on it (etcd #14497):
// only /v1/ready reports the state.
//
// A failed GetFreeSpace (volume vanished, EACCES) counts as "unknown" and
// keeps the previous verdict for that volume, so a transient statfs error
// neither blocks nor unblocks writes.
//
// Thread-safety: writes_allowed(), Snapshot() and PollOnce() may be called
// from any thread; Start/Stop by the owner.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/env.h"

namespace stemedb::api {

class Metrics;

class DiskMonitor {
 public:
  struct Volume {
    std::string name;  // metric label: "wal" or "db"
    std::string path;  // a directory on that volume
  };
  struct VolumeState {
    std::string name;
    std::string path;
    uint64_t free_bytes = 0;
    bool known = false;  // false until a GetFreeSpace succeeded
    bool low = false;
  };

  // `env` and `metrics` (may be nullptr) must outlive the monitor.
  DiskMonitor(Env* env, std::vector<Volume> volumes, uint64_t min_free_bytes, Metrics* metrics,
              std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~DiskMonitor();  // Stops the thread.

  DiskMonitor(const DiskMonitor&) = delete;
  DiskMonitor& operator=(const DiskMonitor&) = delete;

  // Polls once now (so the verdict is right before the first request), then
  // starts the polling thread. Idempotent.
  void Start();
  void Stop();

  // One poll of every volume; updates the verdict and the metrics.
  void PollOnce();

  // False while any volume is below the floor.
  bool writes_allowed() const { return writes_allowed_.load(std::memory_order_relaxed); }
  uint64_t min_free_bytes() const { return min_free_bytes_; }
  std::vector<VolumeState> Snapshot() const;

 private:
  void Run();

  Env* const env_;
  const uint64_t min_free_bytes_;
  Metrics* const metrics_;
  const std::chrono::milliseconds interval_;

  mutable std::mutex mu_;
  std::vector<VolumeState> volumes_;  // guarded by mu_
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
  std::atomic<bool> writes_allowed_{true};
};

}  // namespace stemedb::api
