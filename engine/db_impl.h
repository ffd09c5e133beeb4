// DbImpl: the RocksDB + WAL implementation of engine::Database (database.h).
//
// Split by concern: db_impl.cc (open, recovery, maintenance, checkpoints,
// close), db_write.cc (submit and apply), db_read.cc (point reads, queries,
// beliefs, system tables). The byte layouts are in keys.h, log_entry.h and
// stored_record.h, documented in engine/FORMAT.md.
//
// Threads: the WAL writer thread writes and syncs groups and hands each
// durable record to the apply thread (in LSN order), which applies it and
// completes the callback: the next group's write and fdatasync overlap the
// previous group's apply. With WalOptions::inline_commit a lone record is
// written by the submitting thread (the log was idle) and, if the apply
// thread is idle with nothing queued, applied and completed there too: no
// handoff at all. Whoever applies holds the *apply token* (applying_, under
// apply_mu_): it alone writes RocksDB data, last_recorded_at_us_ and
// scratch_. The maintenance thread flushes and purges; readers run on any
// thread against snapshots.
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/db.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "engine/database.h"
#include "engine/keys.h"
#include "engine/log_entry.h"
#include "engine/project_usage.h"
#include "engine/stored_record.h"

namespace stemedb::engine {

// Column families in handle order (index into DbImpl::cf_).
enum class Cf : size_t {
  kAssertions = 0,
  kRetractions,
  kIdxSubject,
  kIdxPredicate,
  kIdxAgent,
  kTimeIndex,
  kIdempotency,
  kSystem,
  kMeta,
  kCount,
};

// Maps a RocksDB status to ours, prefixing `context`.
Status FromRocks(const rocksdb::Status& s, std::string_view context);

class DbImpl final : public Database {
 public:
  explicit DbImpl(const DatabaseOptions& options);
  ~DbImpl() override;
  DbImpl(const DbImpl&) = delete;
  DbImpl& operator=(const DbImpl&) = delete;

  // Open() steps; see database.h RECOVERY.
  Status OpenRocks();
  // OpenRocks' last step: DatabaseOptions::store_id against `meta`.
  Status CheckStoreId();
  Status Recover(ReplayProgress* progress);
  void StartMaintenance();
  void StartApplier();
  // Starts the thread that carries pending project deletions forward.
  void StartPurger();

  void SubmitAsync(LogEntry entry, CommitCallback done,
                   wal::AppendHint hint = wal::AppendHint::kNone) override;
  Result<CommitInfo> Submit(LogEntry entry) override;
  void ReplicateAsync(Lsn lsn, std::string payload, CommitCallback done) override;
  // OK unless closing or fail-stopped (then the Status a write gets).
  Status AcceptingWrites() const;
  void SetWriteRefusal(Status reason) override;
  Status write_refusal() const override;

  Result<StoredAssertion> GetAssertion(std::string_view project, std::string_view id) override;
  Result<StoredRetraction> GetRetraction(std::string_view project, std::string_view id) override;
  Result<QueryPage> Query(const QuerySpec& spec) override;
  Result<std::vector<PredicateBeliefs>> Beliefs(std::string_view project, std::string_view subject,
                                                std::optional<std::string_view> predicate,
                                                std::optional<Lsn> as_of) override;
  Result<ExportChunk> ExportScan(std::string_view project, Lsn as_of, std::string_view after,
                                 size_t max_lines) override;
  Result<Lsn> LsnAtTime(int64_t time_us) override;
  Result<std::optional<IdempotencyRecord>> GetIdempotency(std::string_view project,
                                                          std::string_view key) override;
  Result<std::optional<std::string>> GetSystem(SystemTable table, std::string_view key) override;
  Status ScanSystem(
      SystemTable table, std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) override;

  std::optional<ProjectFigures> GetProjectFigures(std::string_view project) override;
  std::map<std::string, ProjectFigures> AllProjectFigures() override;
  Result<ProjectRecount> RecountProject(std::string_view project) override;

  Result<ProjectState> GetProjectState(std::string_view project) override;
  Status ScanAssertionIds(std::string_view after_id, std::string_view before_id,
                          const std::function<bool(std::string_view id, std::string_view project,
                                                   std::string_view subject)>& fn) override;
  Lsn applied_lsn() const override { return Lsn(applied_lsn_.load(std::memory_order_acquire)); }
  bool writable() const override;
  Status failure() const override;
  DatabaseStats stats() override;
  Result<Lsn> FlushAndPurge() override;
  Result<Lsn> CreateCheckpoint(const std::string& dir) override;
  wal::Wal* wal() override { return wal_.get(); }
  Status Close() override;

#ifdef STEMEDB_FAILPOINTS
  // Test builds only: simulates a crash after the last acknowledged write.
  // Stops maintenance, closes the WAL (acknowledged records are already
  // durable) and closes RocksDB WITHOUT flushing memtables, so everything
  // applied since the last flush exists only in the WAL. Terminal, like Close.
  void TEST_CrashClose();
#endif

 private:
  // Durable entries applied as one RocksDB write: one memtable write and one
  // pair of `meta` keys per group instead of per entry. The apply thread
  // groups what the WAL writer handed over since its last pass; replay groups
  // consecutive records. A group is closed once it holds kMaxApplyGroupBytes.
  struct ApplyGroup {
    rocksdb::WriteBatch batch;
    Lsn last_lsn;  // of the last staged entry; Lsn() while empty
    uint64_t payload_bytes = 0;
    std::unordered_set<std::string> tokens;  // idempotency keys staged
    // A deletion or erasure was staged: the next entry is staged after a
    // commit, so it is decided against the removal (project_erasure.cc).
    bool removal_staged = false;
    // Projects whose deletion the group completes: visible again (as empty)
    // once the group is written, not before.
    std::vector<std::string> unhide;
  };
  static constexpr size_t kMaxApplyGroupBytes = 4 << 20;
  // True if `g` must be committed before `e` is staged: `g` is full, or
  // applying `e` reads state that entries staged in `g` may change (a
  // retraction reads its target; a token may already be staged), so every
  // read sees all earlier LSNs.
  bool NeedsCommitBefore(const WalEntry& e, const ApplyGroup& g) const;
  // Stages one entry (its LSN is consumed either way): returns the reply or
  // the deterministic rejection (NotFound/Conflict: only the time index is
  // staged). Any other error is a failure of the store (SetFailure).
  Result<CommitInfo> Stage(Lsn lsn, const WalEntry& e, size_t payload_bytes, ApplyGroup* g);
  // Writes the staged entries and meta (applied LSN = g's last), publishes
  // the applied LSN and empties g. OK for an empty group.
  Status CommitGroup(ApplyGroup* g);
  // Adds the kind-specific writes to *batch; returns the reply or the
  // deterministic apply-time error (then *batch holds nothing of it).
  Result<CommitInfo> ApplyAssertBatch(Lsn lsn, int64_t recorded, const AssertBatchEntry& e,
                                      rocksdb::WriteBatch* batch);
  Result<CommitInfo> ApplyRetract(Lsn lsn, int64_t recorded, const RetractEntry& e,
                                  rocksdb::WriteBatch* batch);
  // Import (db_export.cc): writes the records not yet stored, skips the ones
  // stored in e.project; Conflict/NotFound (nothing staged) for an id of
  // another project or a retraction whose target is missing or retracted.
  Result<CommitInfo> ApplyImport(Lsn lsn, int64_t recorded, const ImportEntry& e,
                                 rocksdb::WriteBatch* batch);
  // The write path shared by SubmitAsync and ReplicateAsync: appends
  // `payload` (the encoding of *e) and hands the durable record to the
  // apply thread. With `expected` set, a record that got another LSN
  // fail-stops the store instead of being applied.
  void AppendAndApply(std::shared_ptr<WalEntry> e, std::string payload, std::optional<Lsn> expected,
                      CommitCallback done, wal::AppendHint hint = wal::AppendHint::kNone);
  // Project deletion and erasure (project_erasure.cc).
  Result<CommitInfo> ApplyDeleteProject(Lsn lsn, int64_t recorded, const DeleteProjectEntry& e,
                                        ApplyGroup* g);
  Result<CommitInfo> ApplyErase(Lsn lsn, int64_t recorded, const EraseEntry& e,
                                rocksdb::WriteBatch* batch);
  // Stages the removal of assertion `id` if it belongs to `project`: its
  // record, its retraction, and its index entries (the subject index entry
  // only if `subject_index`). Returns the records removed (0, 1 or 2).
  Result<uint64_t> StageRemoveAssertion(std::string_view project, std::string_view id,
                                        bool subject_index, rocksdb::WriteBatch* batch);
  // The same for a record already read: `value` is the stored record of `id`.
  Result<uint64_t> StageRemoveRecord(std::string_view project, std::string_view id,
                                     std::string_view value, bool subject_index,
                                     rocksdb::WriteBatch* batch);
  // True while `project` is being deleted (reads empty, writes refused).
  bool ProjectHidden(std::string_view project) const;
  // The project a data write adds to (assertions, retraction, import), or
  // nullptr for other entries.
  static const std::string* WrittenProject(const LogEntry& e);
  // After the commit of a group that completed these deletions.
  void FinishDeletions(std::vector<std::string>* projects);
  // Reads the deletion markers from `meta` (OpenRocks, before replay).
  Status LoadDeletionMarkers();
  void StopPurger();
  void PurgeLoop();
  // Compacts what a finished deletion freed (purge thread).
  void CompactDeletedProject(const std::string& project);
  // Looks up a token; sets *dedup if the same request was already applied.
  Status CheckIdempotency(std::string_view project, const std::optional<IdempotencyToken>& t,
                          std::optional<CommitInfo>* dedup);
  void PutIdempotency(std::string_view project, const std::optional<IdempotencyToken>& t,
                      const CommitInfo& info, rocksdb::WriteBatch* batch);
  bool KeyExists(Cf cf, std::string_view key);

  // Query helpers (db_read.cc).
  Lsn EffectiveAsOf(std::optional<Lsn> as_of) const;
  // Reads the record of `id` into *value (pinned: no copy out of the block
  // cache or memtable) and decodes *record over it; false if there is none.
  // *record is valid until *value is reset or destroyed.
  Result<bool> ReadRecord(const rocksdb::ReadOptions& ro, std::string_view id,
                          rocksdb::PinnableSlice* value, AssertionRecordView* record);

  // Recover's first step (db_projects.cc): loads usage_, computing the
  // figures from the records once for a store that has none yet.
  Status LoadProjectUsage();
  // Before a SystemEntry is staged: Conflict if one of its kProjects values
  // is not a registry record (nothing is staged), else applies its limits.
  Status NoteProjectRecords(const SystemEntry& e);

  void MaintenanceLoop();
  void StopMaintenance();
  void ApplierLoop();
  // Applies everything queued, then stops the apply thread. REQUIRES: the
  // WAL is closed (no more records can be queued).
  void StopApplier();
  void SetFailure(const Status& s);
  void CloseRocks();
  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return cf_[static_cast<size_t>(c)]; }

  const DatabaseOptions options_;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* default_cf_ = nullptr;
  std::array<rocksdb::ColumnFamilyHandle*, static_cast<size_t>(Cf::kCount)> cf_{};
  std::unique_ptr<wal::Wal> wal_;

  std::atomic<uint64_t> applied_lsn_{0};
  std::atomic<uint64_t> flushed_lsn_{0};
  std::atomic<uint64_t> unflushed_bytes_{0};
  std::atomic<uint64_t> apply_writes_{0};
  int64_t last_recorded_at_us_ = 0;  // apply-token holder (and Recover before it)
  // Buffers reused by every staged assertion (apply-token holder, Recover).
  struct ApplyScratch {
    std::string json;
    std::string value;
    std::string key;
  };
  ApplyScratch scratch_;
  // Per-project figures and limits: written by the apply-token holder,
  // persisted by CommitGroup in the group's batch (project_usage.h).
  ProjectUsage usage_;
  double replay_seconds_ = 0;

  std::atomic<bool> closing_{false};
  std::atomic<bool> closed_{false};
  std::atomic<bool> failed_{false};
  mutable std::mutex failure_mu_;
  Status failure_;
  std::atomic<bool> writes_refused_{false};
  Status write_refusal_;  // under failure_mu_
  // Serializes ReplicateAsync's LSN check with its append.
  std::mutex replicate_mu_;
  uint64_t replicate_next_ = 0;  // the LSN the next replicated record must have; 0 = ask the WAL

  // Readers hold it shared while they use db_; CloseRocks takes it
  // exclusively, so a late read (a metrics scrape during shutdown) gets
  // Unavailable instead of a dangling pointer.
  mutable std::shared_mutex rocks_mu_;
  // Serializes the WAL owner calls (Purge, Close) with flushes and checkpoints.
  std::mutex owner_mu_;
  std::mutex maint_mu_;
  std::condition_variable maint_cv_;
  bool maint_stop_ = false;
  std::thread maint_thread_;

  // Durable records waiting to be applied, in LSN order.
  struct PendingApply {
    Lsn lsn;
    std::shared_ptr<WalEntry> entry;
    size_t payload_bytes = 0;
    CommitCallback done;
  };
  // Applies one record on the calling thread. REQUIRES: the caller set
  // applying_ (the apply token) and is completing the WAL group of `p`.
  void ApplyInline(PendingApply p);

  // Projects being deleted (markers in `meta`). Changed by the apply-token
  // holder (kMark at stage, the last kPurge after its commit); read by
  // readers and the purge thread.
  mutable std::shared_mutex deleting_mu_;
  std::set<std::string, std::less<>> deleting_;
  std::atomic<size_t> deleting_count_{0};
  std::mutex purge_mu_;
  std::condition_variable purge_cv_;
  bool purge_stop_ = false;
  std::atomic<bool> compaction_canceled_{false};
  std::thread purge_thread_;

  std::mutex apply_mu_;
  std::condition_variable apply_cv_;
  std::deque<PendingApply> apply_queue_;
  bool applying_ = false;    // the apply token (see the class comment)
  ApplyGroup inline_group_;  // ApplyInline's, under the apply token
  bool apply_stop_ = false;
  std::thread apply_thread_;
};

}  // namespace stemedb::engine
