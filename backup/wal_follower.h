// WalFollower: the warm standby's replication from the WAL archive
// (docs/backup.md "Warm standby"). A standby server (STEMEDB_STANDBY) opens
// its store with writes refused and runs one follower, which keeps applying
// what the primary archives (backup/wal_archive.h), record by record, with
// the primary's own LSNs and recorded_at (engine::Database::ReplicateAsync):
// the standby's store and WAL become the primary's, up to the archive's end.
//
// ONE PASS (one owned thread, every poll_interval; CatchUp runs one too)
//   1. list the archive (the epoch chain: a fenced-off writer's segments
//      are not there);
//   2. for each segment holding records after the store's last LSN, in LSN
//      order: fetch it next to the WAL (`scratch_dir`), check it against its
//      sidecar and scan it (ReadArchivedSegment), and hand every record
//      after the store's last LSN to ReplicateAsync, then wait until the
//      last one is applied; remove the local copy;
//   3. a missing LSN (a gap) stops the pass naming it: a standby never
//      skips a record; a bad segment likewise (Corruption naming the object).
//   Failures count, are logged once per reason and retried after a back-off
//   (doubling from 1 s to 30 s); nothing partial is applied out of order,
//   because records are applied strictly at the next LSN.
// After each segment the WAL is told everything it holds is archived
// (Wal::SetArchivedLsn), so the standby's own WAL is purged like any other.
//
// LAG: lag_lsn is the archive's end (at the last listing) minus the applied
// LSN; lag_seconds is the time since the follower last found itself at the
// archive's end (it grows while the remote is unreachable or a backlog is
// applied). The primary's own archive lag (interval + upload) comes on top.
//
// LIFECYCLE: construct, Start(), ..., Stop() before the store closes.
// Promotion: Stop(), then CatchUp() once (everything archived that
// verifies), then the caller bumps the epoch (backup/wal_archive.h).
// Thread-safety: stats() from any thread; Start/Stop/CatchUp by one owner.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "backup/rclone.h"
#include "backup/wal_archive.h"
#include "engine/database.h"
#include "util/env.h"
#include "util/status.h"

namespace stemedb::backup {

// The store's writer epoch (backup/wal_archive.h "THE EPOCH CHAIN") lives
// in the store itself, engine SystemTable::kSettings "writer_epoch"
// (decimal), written by the promotion as the new epoch's first record: it
// is replicated, archived and restored like every other write, so a store
// knows its epoch after any restore. Absent = 1.
inline constexpr std::string_view kWriterEpochSetting = "writer_epoch";
Result<uint64_t> StoreWriterEpoch(engine::Database* db);
engine::SystemWrite WriterEpochWrite(uint64_t epoch);

struct WalFollowerOptions {
  // REMOTE:PATH: the archive to follow (segments in REMOTE:PATH/wal).
  // Required.
  std::string remote;
  // A directory for the downloaded segment (one at a time), on the WAL's
  // volume. Created if missing. Required.
  std::string scratch_dir;
  // How often the archive is listed. Default 1 s (the primary's archive
  // interval is the other half of the lag).
  std::chrono::milliseconds poll_interval{1000};
  RcloneOptions rclone;
  // Back-off after a failed pass: doubles from min to max.
  std::chrono::milliseconds retry_min{1000};
  std::chrono::milliseconds retry_max{30000};
  // Called on the follower thread after each applied segment with the
  // applied LSN (the server reloads its key caches there). Optional.
  std::function<void(uint64_t applied_lsn)> on_applied;
  Env* env = nullptr;  // nullptr = Env::Default()
};

struct WalFollowerStats {
  uint64_t applied_lsn = 0;  // the store's, after the last applied segment
  uint64_t archive_lsn = 0;  // the archive's end at the last listing
  uint64_t lag_lsn = 0;      // archive_lsn - applied_lsn (0 if ahead)
  double lag_seconds = 0;    // see LAG
  uint64_t segments = 0;     // applied since start
  uint64_t failures = 0;     // failed passes since start
  std::string last_error;    // "" once a pass succeeds again
};

class WalFollower {
 public:
  // `db` is not owned and must stay open until Stop() returns; its writes
  // should be refused (engine::Database::SetWriteRefusal).
  WalFollower(engine::Database* db, WalFollowerOptions options);
  ~WalFollower();  // Stop()
  WalFollower(const WalFollower&) = delete;
  WalFollower& operator=(const WalFollower&) = delete;

  // Starts the thread. InvalidArgument for missing options.
  Status Start();
  // Stops between two segments and joins. Idempotent.
  void Stop();
  // One pass on the calling thread. REQUIRES: not started, or stopped.
  Status CatchUp();
  WalFollowerStats stats() const;

 private:
  void Loop();
  // `stoppable`: on the thread, where Stop() ends a pass between segments.
  Status Pass(bool stoppable);
  // Applies the records of one fetched segment after the store's last LSN.
  Status ApplySegment(const ArchivedSegment& segment, uint64_t prev_last);
  bool StopRequested();
  void RecordFailure(const Status& s);

  engine::Database* const db_;
  const WalFollowerOptions options_;
  Env* const env_;
  Rclone rclone_;

  std::mutex mu_;  // stop_ and the condition variable
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;

  mutable std::mutex stats_mu_;  // guards the two below
  WalFollowerStats stats_;
  std::chrono::steady_clock::time_point caught_up_at_;
};

}  // namespace stemedb::backup
