// Wal: StemeDB's write-ahead log, the source of truth for every state change.
//
// Everything outside wal/ reaches the log through this header (and
// wal/wal_verifier.h for `stemectl wal verify`; the WAL archiver and the
// archive restore read sealed segment files with wal/segment_scan.h and
// wal/log_reader.h). The bytes on disk are defined in wal/log_format.h and
// documented in wal/FORMAT.md.
//
// LIFECYCLE
//   Open()     recovers the directory: verifies every sealed segment (a bad
//              record there is Corruption naming file and offset: startup
//              guard 7), truncates a torn or corrupt tail of the newest
//              segment to its last valid record (logged, bytes kept in
//              <segment>.broken), and opens the newest segment for append.
//              No record is appended by Open().
//   Replay()   streams records with lsn >= from, in LSN order. Call it after
//              Open() and before the first Append (the engine replays what
//              RocksDB has not yet applied).
//   Append*()  concurrent appends from any thread.
//   Close()    drains queued appends, syncs, closes. Terminal.
//
// APPEND CONTRACT (group commit)
//   AppendAsync(payload, done) queues one record. A dedicated writer thread
//   takes every queued record (up to WalOptions::max_group_bytes), assigns
//   consecutive LSNs in queue order, writes them with one write(2), and under
//   SyncPolicy::kAlways issues one fdatasync for the whole group. Only then is
//   `done` called for each record, in LSN order, on the writer thread, with the
//   assigned LSN. So, with kAlways, `done(lsn)` means "durable on disk".
//   With kInterval `done` means "written to the OS"; a timer syncs every
//   sync_interval. With kNone nothing is synced until rotation or Close().
//   `done` must be quick and must not call Append (it runs on the writer
//   thread, which is blocked meanwhile): the engine hands the record to its
//   apply thread there, in LSN order (engine/database.h).
//   Errors (failed state, oversize payload) are delivered on the writer thread
//   too, never inside AppendAsync, so a caller may hold its own lock while
//   calling AppendAsync. Only after Close() has begun is `done` called inline
//   (with Unavailable), because no writer thread is left to call it.
//   INLINE COMMIT (WalOptions::inline_commit, kAlways only): when the log is
//   idle (nothing queued, no group being written) and recent fdatasyncs were
//   fast, AppendAsync itself writes and syncs the record as a group of one
//   and calls `done` before it returns, on the calling thread. A lone writer
//   then pays no thread handoff (two wake-ups) on top of the fdatasync. The
//   guarantees are the same; only the thread differs. Callers that enable it
//   must not hold, across AppendAsync, a lock that `done` takes. The log
//   sees concurrency as records queued behind a group, so enable it only
//   with at least two appending threads: a single appender that is itself
//   the backlog (an I/O thread with requests waiting on its sockets) would
//   commit them one fdatasync each, unless it says so: an append with
//   AppendHint::kMoreFollows (its caller appends again at once, e.g. the
//   next request of a pipelining client) is never committed inline, so the
//   writer thread groups it with those that follow.
//   A group is cut at max_group_bytes; rotation happens between groups, once
//   the active segment holds >= segment_bytes, so a group never spans segments.
//
// FAILURE CONTRACT (fail-stop)
//   If a write (other than ENOSPC, below) or fdatasync of the active
//   segment fails, the Wal enters the
//   failed state, permanently: the failed group and every queued and future
//   append complete with a non-OK Status (NoSpace for ENOSPC, Failed
//   otherwise); no record is ever acknowledged after a failed sync, because
//   the kernel may have dropped the dirty pages (PostgreSQL "fsyncgate").
//   healthy() turns false. The only way out is a restart, which re-verifies
//   what is on disk. ENOSPC is not fatal where nothing can have been lost:
//   while *preallocating* a new segment, or from the write(2) of a group
//   (the partly written group is truncated away again), the appends of that
//   group fail with NoSpace (they get no LSN) and later appends retry, so
//   writes resume by themselves when space returns. A failed fsync of the directory at rotation
//   (the new segment's name would not be durable) fail-stops like a failed fdatasync. Records of
//   the failed group may be on disk after a restart: they were never acknowledged, so they may be
//   present or absent, never corrupt.
//
// THREAD-SAFETY
//   Append*, last_lsn, healthy, stats, SealedSegments, SetArchivedLsn may be
//   called from any thread concurrently. Open/Replay/Close/PurgeObsoleteSegments are called by one
//   owner (engine::Database), never concurrently with each other. Rotate may
//   be called from any thread (it is handed to the writer thread).
//
// FILES
//   Open() creates `dir` and flocks <dir>/LOCK for the life of the Wal (a
//   second Open of the same directory gets Busy). Threads: one writer, one
//   preallocator (if enabled). See wal/FORMAT.md for everything on disk.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/env.h"
#include "util/status.h"
#include "util/strong_types.h"

namespace stemedb::wal {

enum class SyncPolicy { kAlways, kInterval, kNone };

// Parses "always" | "interval" | "none".
Result<SyncPolicy> ParseSyncPolicy(std::string_view text);

// Observer for metrics (docs/metrics.md). wal/ never touches Prometheus: api/ passes
// an implementation that does; tests pass nothing. Called by the thread that
// writes the group: the writer thread, or an appender committing inline.
class WalProbe {
 public:
  virtual ~WalProbe() = default;
  virtual void OnFsync(std::chrono::nanoseconds duration) { (void)duration; }
  virtual void OnGroupCommit(size_t records, size_t bytes) { (void)records, (void)bytes; }
};

struct WalOptions {
  // Directory holding the segment files. Created if missing. Required.
  std::string dir;
  // Default kAlways: fdatasync before any append completes.
  SyncPolicy sync_policy = SyncPolicy::kAlways;
  // For kInterval: how often the writer syncs. Default 10 ms.
  std::chrono::milliseconds sync_interval{10};
  // A segment is sealed and a new one started once it holds this many bytes.
  // A single record larger than this still goes into one segment. Default 64 MiB.
  uint64_t segment_bytes = 64ull << 20;
  // Upper bound on the bytes one group commit writes (LevelDB uses 1 MiB).
  // A group always takes at least one record. Default 4 MiB.
  uint64_t max_group_bytes = 4ull << 20;
  // Keep the next segment preallocated (zero-filled, synced) in the
  // background (starting once the active segment is a quarter full), so
  // rotation does not pay for allocation. Default true.
  bool preallocate_next_segment = true;
  // Appends never get an LSN below this. The engine passes its applied LSN + 1,
  // so a WAL directory that is empty (fresh restore from a checkpoint, or
  // every segment purged) continues the sequence instead of restarting at 1.
  // Default Lsn(1).
  Lsn next_lsn_floor{1};
  // See INLINE COMMIT above. Only with kAlways; ignored otherwise. Default
  // false (every callback on the writer thread, as documented above).
  bool inline_commit = false;
  // Inline commits stop while the moving average of fdatasync latency is
  // above this (a slow disk would stall the caller's thread, e.g. an I/O
  // thread with other connections); the writer thread takes over. Default 1 ms.
  std::chrono::microseconds inline_commit_max_sync{1000};
  // Filesystem seam. nullptr = Env::Default(). Not owned.
  Env* env = nullptr;
  // Metrics observer. nullptr = none. Not owned; must outlive the Wal.
  WalProbe* probe = nullptr;
  // Continuous archiving (backup/wal_archiver.h) is on: PurgeObsoleteSegments
  // never deletes a segment holding a record above the archived LSN
  // (SetArchivedLsn), which starts at 0, so nothing is purged before the
  // archiver has said what the archive holds. Default false.
  bool hold_unarchived = false;
};

// What Open() found and did; logged by the server at startup.
struct RecoveryReport {
  size_t segments = 0;
  Lsn first_lsn;  // lowest LSN present (Lsn(0) if the log is empty)
  Lsn last_lsn;   // highest valid LSN (Lsn(0) if empty)
  bool truncated_tail = false;
  std::string truncated_file;     // segment whose tail was cut
  uint64_t truncated_offset = 0;  // new end of that segment
  uint64_t truncated_bytes = 0;   // bytes moved aside into <segment>.broken
};

// One record as replayed. `payload` is valid only during the callback.
struct ReplayedRecord {
  Lsn lsn;
  std::string_view payload;
};

// A sealed segment: complete, immutable, its records first_lsn..last_lsn.
struct SealedSegment {
  std::string name;
  Lsn first_lsn;
  Lsn last_lsn;  // first_lsn - 1 if it holds no record
};

struct WalStats {
  Lsn last_lsn;     // highest LSN assigned and written
  Lsn durable_lsn;  // highest LSN known fsynced
  uint64_t bytes_written = 0;
  uint64_t fsyncs = 0;
  uint64_t groups = 0;
  uint64_t inline_groups = 0;  // of `groups`, written by their appender (INLINE COMMIT)
  size_t segments = 0;
};

// What the caller knows of its next append (INLINE COMMIT).
enum class AppendHint {
  kNone,
  kMoreFollows,  // the caller appends again at once: group, never inline
};

class Wal {
 public:
  using AppendCallback = std::function<void(Result<Lsn>)>;

  // Recovers `options.dir` as described above and returns an open Wal.
  // Errors: Corruption (sealed segment, with file and offset), IOError,
  // InvalidArgument (bad options).
  static Result<std::unique_ptr<Wal>> Open(const WalOptions& options, RecoveryReport* report);

  virtual ~Wal() = default;

  // Calls `fn` for each record with lsn >= from, in order. Stops at and
  // returns the first non-OK status `fn` returns. REQUIRES: no appends yet.
  // Lsn(0) means Lsn(1). Corruption if `from` is below the first LSN of the
  // oldest segment present (those records were purged or never reached this
  // directory: skipping them silently would lose data).
  virtual Status Replay(Lsn from, const std::function<Status(const ReplayedRecord&)>& fn) = 0;

  // Queues `payload` (copied/moved in) and returns at once; `done` is called
  // exactly once, as described in the class comment. REQUIRES: payload size
  // <= kMaxRecordPayload (log_format.h); larger completes with InvalidArgument.
  virtual void AppendAsync(std::string payload, AppendCallback done,
                           AppendHint hint = AppendHint::kNone) = 0;

  // Blocking convenience over AppendAsync, for tests, tools and benchmarks.
  virtual Result<Lsn> Append(std::string payload) = 0;

  // Highest LSN handed out so far (0 if none).
  virtual Lsn last_lsn() const = 0;
  // False once fail-stopped (see FAILURE CONTRACT) or closed.
  virtual bool healthy() const = 0;
  // The Status that fail-stopped the log (OK while healthy).
  virtual Status failure() const = 0;
  virtual WalStats stats() const = 0;

  // Forces rotation: seals the active segment, starts a new one whose first
  // LSN is last_lsn()+1. Used by the archiver to ship the records of the
  // active segment. A segment sealed before it is full has its preallocated
  // zero tail cut off (best effort: zeros are a valid end, FORMAT.md).
  // A no-op (OK) if the active segment holds no record yet: it already starts
  // at last_lsn()+1. Returns the failure Status once fail-stopped.
  virtual Status Rotate() = 0;

  // Names (not paths) of sealed segments in order, and the active one last.
  virtual std::vector<std::string> SegmentFiles() const = 0;
  // The sealed segments in LSN order (not the active one).
  virtual std::vector<SealedSegment> SealedSegments() const = 0;
  // With WalOptions::hold_unarchived: every record <= `archived` is safe in
  // the archive, so purging may go up to it. Never moves backwards.
  virtual void SetArchivedLsn(Lsn archived) = 0;

  // Deletes sealed segments all of whose records have lsn <= `covered`
  // (already flushed to SSTs), keeping at least the newest `keep_sealed`
  // sealed segments. The active segment is never deleted. With
  // hold_unarchived, nor is a segment with a record above the archived LSN.
  // Syncs the dir.
  virtual Status PurgeObsoleteSegments(Lsn covered, size_t keep_sealed) = 0;

  // Drains pending appends, syncs and closes. Pending callbacks complete.
  // After Close every append completes with Unavailable. Returns the failure
  // Status if the Wal had fail-stopped (nothing is synced then). Idempotent;
  // the destructor calls it.
  virtual Status Close() = 0;
};

}  // namespace stemedb::wal
