// WalArchiver: continuous archiving of the WAL to an rclone remote, inside
// the server (docs/backup.md "Continuous archiving"). rclone runs as a child
// process for every object (backup/rclone.h); nothing is linked.
//
// WHAT IT DOES (one owned thread)
//   Every sealed segment is uploaded to REMOTE:PATH/wal/<first>-<last>.wal
//   (backup/wal_archive.h), in LSN order, each one as:
//     1. scan the local segment (wal/segment_scan.h) up to its last record;
//     2. `rclone rcat NAME.partial` of those bytes, hashing them;
//     3. `rclone cat NAME.partial` back, hashing what the remote stored: the
//        size and SHA-256 must equal what was sent;
//     4. NAME.sha256, then `rclone moveto` NAME.partial to NAME.
//   A failure in 2-4 removes the .partial (best effort), counts a failure and
//   retries the same segment after a back-off (doubling from 1 s to 30 s).
//   The active segment is sealed (Wal::Rotate) and shipped once it holds a
//   record the archiver has seen for `interval`: the interval plus one upload
//   is the recovery point.
//
// NO SEGMENT IS DELETED BEFORE IT IS ARCHIVED
//   The Wal must be opened with WalOptions::hold_unarchived; the archiver
//   tells it the archived LSN after every upload (Wal::SetArchivedLsn), and
//   only segments wholly at or below it may be purged. At start the archived
//   LSN is the highest last LSN in the remote listing; until that listing
//   succeeds it is 0 and nothing is purged.
//
// FALLING BEHIND (remote down, slow network): segments stay on the local
//   disk, the lag grows, failures count; nothing is ever skipped. If the disk
//   fills, the server's free-space guard refuses writes (507) before the WAL
//   runs out: continuity of the archive wins over availability of writes.
//   A gap the archiver cannot fill (local segments that start above the
//   archive's end: archiving enabled late, a WAL-loss override) is logged and
//   counted once per gap and archiving continues after it; a restore across
//   the gap needs a base backup taken after it (backup/archive_restore.h).
//   The archive's last object may be a prefix of a local segment (a crash
//   right after a seal can reopen that segment): the longer one is uploaded
//   under its own name and supersedes it (backup/wal_archive.h).
//   An archive that is AHEAD of this log (it holds LSNs this store never
//   wrote, or a range that overlaps ours differently) belongs to another
//   history, e.g. the store restored to an earlier point: the archiver
//   refuses to write there (logged, counted as failures, retried) instead of
//   mixing two histories; point STEMEDB_ARCHIVE_REMOTE at a new path.
//
// FENCING (never two writers; docs/backup.md "Warm standby"): the archiver
//   writes as writer epoch `epoch` (segments of epoch > 1 carry it in their
//   names, backup/wal_archive.h). Before every upload, and at least every
//   fence_check_interval while idle, it lists REMOTE:PATH/epoch; once an
//   epoch above its own exists (a standby was promoted) it is FENCED: it
//   never uploads again, stats().fenced turns true and `on_fenced` is
//   called once (the server refuses writes from then on). rclone has no
//   compare-and-swap, so an upload that started before the promotion wrote
//   its epoch may still land: readers ignore it (the epoch chain).
//
// LIFECYCLE: construct, Start(), ..., Stop() before the Wal closes. Stop()
//   makes one last pass (seal and upload what is left: one attempt, at most
//   final_pass_budget) so a clean shutdown leaves nothing unarchived when
//   the remote is up. A pass in progress stops between two segments.
// Thread-safety: stats() from any thread; Start/Stop by one owner.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "backup/rclone.h"
#include "util/env.h"
#include "util/status.h"
#include "wal/wal.h"

namespace stemedb::backup {

struct WalArchiverOptions {
  // REMOTE:PATH: the backups' directory; segments go to REMOTE:PATH/wal/.
  // Required (the server leaves archiving off when STEMEDB_ARCHIVE_REMOTE is
  // empty).
  std::string remote;
  // The WAL directory the Wal writes (segments are read from there). Required.
  std::string wal_dir;
  // Seal and ship the active segment once it holds a record this old.
  // Default 1 s (STEMEDB_ARCHIVE_INTERVAL).
  std::chrono::milliseconds interval{1000};
  // How rclone runs. The server adds bounded retries/timeouts (see
  // DefaultArchiverRcloneArgs) so Stop() never waits on a dead remote for long.
  RcloneOptions rclone;
  // Back-off after a failed upload or listing: doubles from min to max.
  std::chrono::milliseconds retry_min{1000};
  std::chrono::milliseconds retry_max{30000};
  // Stop()'s last pass uploads for at most this long (a backlog left then is
  // uploaded after the next start). Default 10 s.
  std::chrono::milliseconds final_pass_budget{10000};
  Env* env = nullptr;  // nullptr = Env::Default()
  // This store's writer epoch (the store's setting, engine kSettings
  // "writer_epoch"; 1 until a promotion). Default 1.
  uint64_t epoch = 1;
  // Idle fencing checks at least this often. Default 5 s.
  std::chrono::milliseconds fence_check_interval{5000};
  // Called once, on the archiver thread, when a higher epoch is found, with
  // the reason. Must not block. Optional.
  std::function<void(const Status& reason)> on_fenced;
};

// rclone flags for an archiver: few retries, connect/IO timeouts, so a dead
// remote fails an upload within about a minute and the archiver's own
// back-off takes over.
std::vector<std::string> DefaultArchiverRcloneArgs();

struct WalArchiverStats {
  uint64_t archived_lsn = 0;  // every record <= this is in the archive
  uint64_t durable_lsn = 0;   // the log's, at the last pass
  double lag_seconds = 0;     // age of the oldest record not archived
  uint64_t lag_bytes = 0;     // about: WAL bytes not archived yet
  uint64_t failures = 0;      // failed uploads/listings since start
  uint64_t segments = 0;      // uploaded since start
  uint64_t bytes = 0;         // uploaded since start
  uint64_t gaps = 0;          // gaps recorded since start
  std::string last_error;     // "" once an upload succeeds again
  bool fenced = false;        // a higher writer epoch owns the archive (FENCING)
};

class WalArchiver {
 public:
  // `wal` is not owned and must stay open until Stop() returns.
  WalArchiver(wal::Wal* wal, WalArchiverOptions options);
  ~WalArchiver();  // Stop()
  WalArchiver(const WalArchiver&) = delete;
  WalArchiver& operator=(const WalArchiver&) = delete;

  // Starts the thread. InvalidArgument for missing options.
  Status Start();
  // Last pass (see LIFECYCLE), then joins. Idempotent.
  void Stop();
  WalArchiverStats stats() const;

 private:
  struct Sample {  // the log's durable LSN first seen at `when`
    uint64_t lsn;
    std::chrono::steady_clock::time_point when;
  };

  void Loop();
  // One pass: learn the archive's end if unknown, upload sealed segments,
  // seal the active one when due. False if something failed (back off).
  bool Pass(bool final_pass);
  bool StopRequested();
  Status LoadArchiveEnd();
  // The fencing check (FENCING); false once fenced. An unreachable remote
  // is a failure (retried), not a fence.
  Result<bool> CheckFence();
  Status UploadSegment(const wal::SealedSegment& segment);
  void RecordFailure(const Status& s);
  void UpdateLag(std::chrono::steady_clock::time_point now);

  wal::Wal* const wal_;
  const WalArchiverOptions options_;
  Env* const env_;
  Rclone rclone_;

  std::mutex mu_;  // stop_ and the condition variable
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;

  // Archiver thread only.
  bool archive_end_known_ = false;
  uint64_t archive_last_first_ = 0;  // first LSN of the archive's last object
  uint64_t gap_reported_at_ = 0;
  bool fenced_ = false;
  std::chrono::steady_clock::time_point last_fence_check_{};

  mutable std::mutex stats_mu_;  // guards the two below
  WalArchiverStats stats_;
  std::deque<Sample> samples_;  // (lsn, first seen) of records not archived yet
};

}  // namespace stemedb::backup
