// RetentionSweeper: removes assertions older than their project's
// `retain_days` (the registry record, engine/project_record.h), except what a
// legal hold covers (api/legal_holds.h). docs/projects.md "Retention".
//
// A sweep scans the `assertions` family in id order up to the newest cutoff
// (ids begin with their creation time: NewIdTimeBound) and erases expired
// ids of each project through the WAL (engine EraseEntry, reason kExpiry),
// at most `batch` ids per entry and at most `max_per_second` ids a second.
// Each erase entry is applied on the apply thread with nothing else in its
// step (engine NeedsCommitBefore), so `batch` bounds how long another
// project's write can wait behind one, and the rate cap bounds the sweep's
// share of the apply thread whatever the backlog. A sweep reads every assertion older than the
// newest cutoff, kept ones too (projects without retention, held subjects):
// its cost grows with them, which is why sweeps are minutes apart.
//
// THREADING: one owned thread between Start and Stop (joined). SweepOnce may
// also be called directly while the thread is not running.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "engine/database.h"
#include "util/status.h"

namespace stemedb::api {

struct RetentionOptions {
  // Time between two sweeps. Default 5 minutes.
  std::chrono::milliseconds interval{std::chrono::minutes(5)};
  // Ids per erase entry (one WAL record, one apply step). Default 100.
  size_t batch = 100;
  // Ids erased per second at most: after an entry of n ids the sweeper waits
  // until n / max_per_second has passed since it began that entry's scan.
  // Default 2000.
  uint64_t max_per_second = 2000;
  // Wall clock in microseconds since the epoch; nullptr = the real one.
  std::function<int64_t()> now_us;
};

// The wait after an entry of `ids` ids whose scan and erase took `spent`, so
// that the sweep erases at most `max_per_second` ids a second. Unused time of
// one entry is not saved up for the next: the sweep never catches up in a
// burst after a slow step.
std::chrono::microseconds RetentionPause(size_t ids, std::chrono::microseconds spent,
                                         uint64_t max_per_second);

class RetentionSweeper {
 public:
  // `db` is not owned and must outlive the sweeper.
  RetentionSweeper(engine::Database* db, RetentionOptions options);
  ~RetentionSweeper();
  RetentionSweeper(const RetentionSweeper&) = delete;
  RetentionSweeper& operator=(const RetentionSweeper&) = delete;

  void Start();
  // Finishes the current erase entry, then joins. Idempotent.
  void Stop();
  // One sweep over every project with retention; returns the records
  // removed (assertions and their retractions).
  Result<uint64_t> SweepOnce();
  uint64_t removed_total() const { return removed_total_.load(); }

 private:
  void Loop();
  bool Stopping();

  engine::Database* db_;
  const RetentionOptions options_;
  std::atomic<uint64_t> removed_total_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace stemedb::api
