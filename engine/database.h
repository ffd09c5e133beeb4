// Database: the durable store of StemeDB. Owns the WAL (wal::Wal, the source
// of truth) and RocksDB (the indexed, queryable materialization of the WAL).
//
// WRITE PATH
//   SubmitAsync(entry) encodes the entry (engine/log_entry.h) and appends it
//   to the WAL. When the WAL reports the record durable (group commit), the
//   entry is applied to RocksDB (one WriteBatch, RocksDB WAL disabled) together
//   with the applied LSN, in LSN order, on the engine's apply thread (so the
//   WAL writer already writes and syncs the next group); only then is
//   `done` called. So an acknowledged write is durable and already visible to
//   every later read. With wal.inline_commit, a record the WAL committed on
//   the submitting thread (the log was idle) is applied there too when the
//   apply thread is idle with nothing queued, and `done` runs before
//   SubmitAsync returns.
//
// RECOVERY
//   Open() opens RocksDB, reads the applied LSN that was flushed atomically
//   with the data (atomic_flush across column families), opens the WAL
//   (which verifies and repairs it) and replays every record after the
//   applied LSN. Replay is bounded because a maintenance thread flushes
//   memtables once `max_unflushed_wal_bytes` of WAL accumulate and then
//   deletes WAL segments the flush covers (keeping `keep_wal_segments`).
//
// READS never block writes: they use RocksDB snapshots/iterators and are
// bounded by the LSN they read as of.
//
// THREAD-SAFETY: every public method may be called from any thread once Open
// returned, except Close (once, by the owner). `done` callbacks run on the
// apply thread (or the WAL writer thread for a WAL error), or, with
// wal.inline_commit, on the submitting thread inside SubmitAsync; they must
// not block nor submit and wait, nor take a lock the submitter holds across
// SubmitAsync.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.h"
#include "util/status.h"
#include "util/strong_types.h"
#include "wal/wal.h"

namespace stemedb::engine {

struct DatabaseOptions {
  // RocksDB directory. Created if missing. Required.
  std::string db_dir;
  // Create the RocksDB store if db_dir holds none (no CURRENT). Even then a
  // db_dir holding other files is refused (InvalidArgument), unless
  // create_in_non_empty_dir: a half-restored store must not be silently
  // replaced by an empty one. Defaults: true, false.
  bool create_if_missing = true;
  bool create_in_non_empty_dir = false;
  // The store's id (engine/store_identity.h): written to `meta` (and
  // flushed) if absent; Open fails with InvalidArgument if `meta` holds
  // another. "" = neither checked nor written (tools, tests).
  std::string store_id;
  // WAL options (dir, sync policy, segment size, env, probe). wal.dir required.
  wal::WalOptions wal;
  // Sealed WAL segments kept after a flush covers them (for backups and
  // forensics). Default 2.
  size_t keep_wal_segments = 2;
  // Flush memtables once this many WAL bytes have been applied since the last
  // flush; bounds replay time after a crash. Default 256 MiB.
  uint64_t max_unflushed_wal_bytes = 256ull << 20;
  // Total memtable budget across column families (RocksDB
  // db_write_buffer_size). Default 128 MiB.
  uint64_t memtable_budget_bytes = 128ull << 20;
  // Shared LRU block cache. Default 64 MiB.
  uint64_t block_cache_bytes = 64ull << 20;
};

// Published while Open() replays, so /v1/health can report progress.
struct ReplayProgress {
  std::atomic<uint64_t> records_replayed{0};
  std::atomic<uint64_t> start_lsn{0};  // first LSN to replay
  std::atomic<uint64_t> end_lsn{0};    // last LSN in the WAL
  std::atomic<bool> done{false};
};

// RocksDB and WAL health for metrics (docs/metrics.md and issue 5).
struct DatabaseStats {
  Lsn applied_lsn;
  Lsn flushed_lsn;
  uint64_t pending_compaction_bytes = 0;
  uint64_t live_sst_bytes = 0;
  uint64_t memtable_bytes = 0;
  wal::WalStats wal;
  double replay_seconds = 0;
  // RocksDB writes that applied WAL entries (live and replay): entries
  // applied / apply_writes is the average apply group (db_impl.h).
  uint64_t apply_writes = 0;
};

class Database {
 public:
  using CommitCallback = std::function<void(Result<CommitInfo>)>;

  // Opens (creating if needed and allowed, see DatabaseOptions) and replays.
  // `progress` may be nullptr. Errors: Corruption (WAL sealed segment;
  // RocksDB), IOError, Busy, InvalidArgument (another store's id; a db_dir
  // holding files but no store), NotFound (no store, create_if_missing off).
  static Result<std::unique_ptr<Database>> Open(const DatabaseOptions& options,
                                                ReplayProgress* progress);

  virtual ~Database() = default;

  // --- writes -------------------------------------------------------------

  // Logs and applies `entry`; see WRITE PATH. Fails (via `done`) with:
  // NotFound (retract of a missing id), Conflict (idempotency key reused with
  // another body), NoSpace/Failed (WAL), Unavailable (closing).
  // If entry carries an idempotency token already recorded with the same
  // request hash, nothing is written and `done` gets the original CommitInfo.
  // `hint` goes to the WAL (wal::AppendHint): kMoreFollows when the caller
  // submits another entry at once, so the two share a group commit.
  virtual void SubmitAsync(LogEntry entry, CommitCallback done,
                           wal::AppendHint hint = wal::AppendHint::kNone) = 0;
  // Blocking form, for tools and tests.
  virtual Result<CommitInfo> Submit(LogEntry entry) = 0;

  // REPLICATION (a warm standby, backup/wal_follower.h). ReplicateAsync
  // logs `payload`, a WAL record another store's SubmitAsync wrote (with
  // its recorded_at: the clock is not read again), at exactly `lsn`, and
  // applies it through the same staging as every write and replay, so it
  // needs nothing per entry kind. `done` gets the entry's outcome as the
  // primary saw it (a deterministic NotFound/Conflict consumes the LSN
  // there too). InvalidArgument, with nothing written, if `lsn` is not the
  // next LSN of this log; Corruption if the payload does not decode. A
  // record appended at any other LSN (a write that raced the check)
  // fail-stops the store. Meant for a store whose writes are refused
  // (SetWriteRefusal): ReplicateAsync ignores the refusal.
  virtual void ReplicateAsync(Lsn lsn, std::string payload, CommitCallback done) = 0;
  // While `reason` is not OK, SubmitAsync completes with it and writes
  // nothing (a standby, a fenced-off primary: docs/backup.md "Warm
  // standby"); OK accepts writes again. Default: accepted.
  virtual void SetWriteRefusal(Status reason) = 0;
  // The current refusal (OK while writes are accepted).
  virtual Status write_refusal() const = 0;

  // --- reads --------------------------------------------------------------

  // The assertion `id` of `project`, with retraction state as of now.
  // NotFound if absent or in another project (callers must not distinguish).
  virtual Result<StoredAssertion> GetAssertion(std::string_view project, std::string_view id) = 0;
  // A retraction record by its own id (NotFound otherwise).
  virtual Result<StoredRetraction> GetRetraction(std::string_view project, std::string_view id) = 0;
  virtual Result<QueryPage> Query(const QuerySpec& spec) = 0;
  // Current beliefs about `subject` (optionally one predicate) as of `as_of`
  // (nullopt = now). Retracted assertions drop out.
  virtual Result<std::vector<PredicateBeliefs>> Beliefs(std::string_view project,
                                                        std::string_view subject,
                                                        std::optional<std::string_view> predicate,
                                                        std::optional<Lsn> as_of) = 0;
  // Export (docs/projects.md "Export and import"): the record lines of
  // `project` as of `as_of` (clamped to the applied LSN) that follow the
  // line with id `after` ("" = from the start), at most about `max_lines`.
  // Order: idx_subject order (subject, predicate, agent_id, lsn, ordinal),
  // each assertion followed by its retraction if that is visible as of
  // `as_of`. Chunks are consistent with each other because `as_of` is
  // pinned: later writes are invisible. InvalidArgument if `after` is not
  // a line of this export.
  virtual Result<ExportChunk> ExportScan(std::string_view project, Lsn as_of,
                                         std::string_view after, size_t max_lines) = 0;
  // The highest LSN whose recorded_at <= `time_us` (Lsn(0) if none).
  virtual Result<Lsn> LsnAtTime(int64_t time_us) = 0;
  virtual Result<std::optional<IdempotencyRecord>> GetIdempotency(std::string_view project,
                                                                  std::string_view key) = 0;

  // System tables (auth/, metering, audit). Get: nullopt if absent.
  virtual Result<std::optional<std::string>> GetSystem(SystemTable table, std::string_view key) = 0;
  // Calls fn(key, value) for keys starting with `prefix` in key order until
  // fn returns false.
  virtual Status ScanSystem(
      SystemTable table, std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) = 0;

  // --- projects (engine/project_usage.h, docs/projects.md) ----------------

  // The exact figures of a project as of the last staged entry (the applied
  // LSN, or an entry being applied at that moment); nullopt if it has none
  // (never written, or deleted).
  virtual std::optional<ProjectFigures> GetProjectFigures(std::string_view project) = 0;
  // Every project that has figures, by name.
  virtual std::map<std::string, ProjectFigures> AllProjectFigures() = 0;
  // Recomputes the project's figures from its records and reads the
  // maintained ones, from one snapshot: equal unless the accounting is wrong.
  virtual Result<ProjectRecount> RecountProject(std::string_view project) = 0;

  // --- project deletion and erasure (engine/project_erasure.cc) -----------

  // kDeleting from the moment a DeleteProjectEntry kMark is applied until its
  // last kPurge step: reads of the project are empty, writes are refused
  // (Conflict). kAbsent: no assertion, idempotency record, agent key or
  // registry record of the project exists (API keys are auth/'s).
  enum class ProjectState { kAbsent, kPresent, kDeleting };
  virtual Result<ProjectState> GetProjectState(std::string_view project) = 0;
  // Calls fn(id, project, subject) for every assertion with after_id < id <
  // before_id, in id order, on one snapshot, until fn returns false. Ids
  // begin with their creation time (api/router.h NewId), so the retention
  // sweeper (api/retention_sweeper.h) finds old assertions this way.
  virtual Status ScanAssertionIds(
      std::string_view after_id, std::string_view before_id,
      const std::function<bool(std::string_view id, std::string_view project,
                               std::string_view subject)>& fn) = 0;

  // --- state --------------------------------------------------------------

  virtual Lsn applied_lsn() const = 0;
  // False once the WAL fail-stopped (see wal/wal.h) or after Close.
  virtual bool writable() const = 0;
  virtual Status failure() const = 0;
  virtual DatabaseStats stats() = 0;

  // Flushes memtables (atomic across column families), then purges WAL
  // segments the flush covers. Called by the maintenance thread; public for
  // tests, shutdown and backups. Returns the LSN now covered by SSTs.
  virtual Result<Lsn> FlushAndPurge() = 0;

  // The WAL, for the archiver (backup/wal_archiver.h: seal, list, hold
  // segments for the archive). Valid from Open until Close returns; writes
  // go through SubmitAsync, never through it.
  virtual wal::Wal* wal() = 0;

  // Writes a consistent RocksDB checkpoint into `dir` (must not exist) and
  // returns the LSN it contains (its applied LSN): a store opened from it
  // needs no WAL to be consistent at that LSN.
  virtual Result<Lsn> CreateCheckpoint(const std::string& dir) = 0;

  // Completes pending writes, flushes, closes WAL and RocksDB. Terminal.
  virtual Status Close() = 0;
};

}  // namespace stemedb::engine
