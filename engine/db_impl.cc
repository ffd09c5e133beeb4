#include "engine/db_impl.h"

#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "engine/coding.h"
#include "engine/store_identity.h"
#include "util/env.h"
#include "util/logging.h"
#include "util/thread_name.h"

namespace stemedb::engine {
namespace {

constexpr std::array<const char*, static_cast<size_t>(Cf::kCount)> kCfNames = {
    kCfAssertions, kCfRetractions, kCfIdxSubject, kCfIdxPredicate, kCfIdxAgent,
    kCfTimeIndex,  kCfIdempotency, kCfSystem,     kCfMeta};

// The seam for the directories we create (wal.env, as for the WAL itself).
Env* DirEnv(const DatabaseOptions& o) { return o.wal.env != nullptr ? o.wal.env : Env::Default(); }

bool Supports(rocksdb::CompressionType t) {
  const auto all = rocksdb::GetSupportedCompressions();
  return std::find(all.begin(), all.end(), t) != all.end();
}

// How a column family is read: by whole key (Get) or only by range scans.
enum class Access { kPointLookups, kScansOnly };

Access AccessOf(std::string_view cf_name) {
  // Index and time keys are only ever scanned (prefix ranges, SeekForPrev).
  for (const char* scanned : {kCfIdxSubject, kCfIdxPredicate, kCfIdxAgent, kCfTimeIndex}) {
    if (cf_name == scanned) return Access::kScansOnly;
  }
  return Access::kPointLookups;
}

rocksdb::ColumnFamilyOptions MakeCfOptions(const DatabaseOptions& o,
                                           const std::shared_ptr<rocksdb::Cache>& cache,
                                           Access access) {
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  if (access == Access::kPointLookups) {
    // Point lookups (assertion by id, idempotency tokens, retraction
    // targets) hit these: a whole-key bloom filter makes misses cheap. The
    // scanned families get none: a filter nobody consults is only hashing
    // work at every flush and compaction (~1/10 of their CPU).
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    t.whole_key_filtering = true;
  }
  t.format_version = 5;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  cf.compaction_style = rocksdb::kCompactionStyleLevel;
  cf.level_compaction_dynamic_level_bytes = true;
  cf.write_buffer_size = std::clamp<uint64_t>(o.memtable_budget_bytes / 4, 1 << 20, 64 << 20);
  // L0/L1 are rewritten often: keep them uncompressed; LZ4 below if built in.
  const rocksdb::CompressionType deep =
      Supports(rocksdb::kLZ4Compression) ? rocksdb::kLZ4Compression : rocksdb::kNoCompression;
  cf.compression_per_level = {
      rocksdb::kNoCompression, rocksdb::kNoCompression, deep, deep, deep, deep, deep};
  return cf;
}

rocksdb::DBOptions MakeDbOptions(const DatabaseOptions& o) {
  rocksdb::DBOptions d;
  d.create_if_missing = true;
  d.create_missing_column_families = true;
  // Our WAL is the log: every write uses disableWAL, and all column families
  // flush together so the applied LSN in `meta` always matches the SSTs.
  d.atomic_flush = true;
  // Close() flushes explicitly; a crash must not be "helped" by a flush in a
  // destructor that a real crash would not run either.
  d.avoid_flush_during_shutdown = true;
  d.max_background_jobs = 2;
  d.db_write_buffer_size = o.memtable_budget_bytes;
  d.keep_log_file_num = 5;
  d.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  return d;
}

std::vector<rocksdb::ColumnFamilyDescriptor> Descriptors(const DatabaseOptions& o,
                                                         const std::shared_ptr<rocksdb::Cache>& c) {
  std::vector<rocksdb::ColumnFamilyDescriptor> d;
  d.emplace_back(rocksdb::kDefaultColumnFamilyName, MakeCfOptions(o, c, Access::kPointLookups));
  for (const char* name : kCfNames) {
    d.emplace_back(name, MakeCfOptions(o, c, AccessOf(name)));
    if (std::string_view(name) == kCfTimeIndex || std::string_view(name) == kCfAssertions) {
      // Time keys only grow (recorded_at is clamped, LSNs increase), and
      // assertion ids start with their creation time (api/router.cc NewId),
      // so they arrive nearly sorted: with one hint for all keys (an empty
      // prefix) each insert starts at the previous one instead of searching
      // the skiplist from the top. An out-of-order key costs a normal insert.
      d.back().options.memtable_insert_with_hint_prefix_extractor.reset(
          rocksdb::NewFixedPrefixTransform(0));
    }
  }
  return d;
}

Result<uint64_t> ReadFixedMeta(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta,
                               std::string_view key) {
  std::string v;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, key, &v);
  if (s.IsNotFound()) return uint64_t{0};
  if (!s.ok()) return FromRocks(s, "read meta");
  if (v.size() != 8) return Status::Corruption("meta " + std::string(key) + ": bad length");
  return DecodeFixed64BE(v.data());
}

}  // namespace

Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::OK();
  std::string msg(context);
  msg += ": rocksdb: ";
  msg += s.ToString();
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsNoSpace()) return Status::NoSpace(msg);
  if (s.IsBusy() || (s.IsIOError() && s.ToString().find("lock") != std::string::npos)) {
    return Status::Busy(msg);
  }
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::IOError(msg);
}

Result<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options,
                                                 ReplayProgress* progress) {
  if (options.db_dir.empty() || options.wal.dir.empty()) {
    return Status::InvalidArgument("database: db_dir and wal.dir are required");
  }
  auto db = std::make_unique<DbImpl>(options);
  STEMEDB_RETURN_IF_ERROR(db->OpenRocks());
  STEMEDB_RETURN_IF_ERROR(db->Recover(progress));
  db->StartApplier();
  db->StartMaintenance();
  db->StartPurger();
  return std::unique_ptr<Database>(std::move(db));
}

DbImpl::DbImpl(const DatabaseOptions& options)
    : options_(options), cache_(rocksdb::NewLRUCache(options.block_cache_bytes)) {}

DbImpl::~DbImpl() {
  if (!closed_.load()) Close().IgnoreError("destructor: errors were logged by Close");
}

Status DbImpl::OpenRocks() {
  // Through the Env, so the directory's entry is durable (RocksDB syncs what
  // it writes inside db_dir, not db_dir's entry in its parent).
  STEMEDB_RETURN_IF_ERROR(DirEnv(options_)->CreateDirs(options_.db_dir));
  rocksdb::DBOptions dbo = MakeDbOptions(options_);
  if (!DirEnv(options_)->FileExists(options_.db_dir + "/CURRENT")) {
    // No store here. Create one only where nothing else is: SSTs without
    // CURRENT (an interrupted restore) would be deleted by RocksDB and the
    // store silently replaced by an empty one.
    if (!options_.create_if_missing) {
      return Status::NotFound(options_.db_dir + " holds no RocksDB store");
    }
    auto entries = StoreDirEntries(DirEnv(options_), options_.db_dir);
    if (!entries) return entries.error();
    if (!entries->empty() && !options_.create_in_non_empty_dir) {
      return Status::InvalidArgument(options_.db_dir +
                                     " holds files but no RocksDB store (no CURRENT)");
    }
  }
  dbo.create_if_missing = options_.create_if_missing;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(dbo, options_.db_dir, Descriptors(options_, cache_), &handles, &raw);
  if (!s.ok()) return FromRocks(s, "open " + options_.db_dir);
  db_.reset(raw);
  default_cf_ = handles[0];
  for (size_t i = 0; i < cf_.size(); ++i) cf_[i] = handles[i + 1];

  std::string version;
  s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kMeta), kMetaFormatVersion, &version);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    s = db_->Put(wo, cf(Cf::kMeta), kMetaFormatVersion,
                 std::string(1, static_cast<char>(kFormatVersion)));
    if (!s.ok()) return FromRocks(s, "write format version");
  } else if (!s.ok()) {
    return FromRocks(s, "read format version");
  } else if (version.size() != 1 || static_cast<uint8_t>(version[0]) != kFormatVersion) {
    return Status::Corruption(options_.db_dir + ": unknown engine format version");
  }
  STEMEDB_RETURN_IF_ERROR(CheckStoreId());
  STEMEDB_RETURN_IF_ERROR(LoadDeletionMarkers());
  Result<uint64_t> applied = ReadFixedMeta(db_.get(), cf(Cf::kMeta), kMetaAppliedLsn);
  if (!applied) return applied.error();
  Result<uint64_t> recorded = ReadFixedMeta(db_.get(), cf(Cf::kMeta), kMetaLastRecordedAt);
  if (!recorded) return recorded.error();
  applied_lsn_.store(*applied);
  flushed_lsn_.store(*applied);
  last_recorded_at_us_ = static_cast<int64_t>(*recorded);
  return Status::OK();
}

Status DbImpl::CheckStoreId() {
  if (options_.store_id.empty()) return Status::OK();
  std::string id;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kMeta), kMetaStoreId, &id);
  if (s.ok()) {
    if (id == options_.store_id) return Status::OK();
    return Status::InvalidArgument(options_.db_dir + " belongs to store " + id + ", not " +
                                   options_.store_id);
  }
  if (!s.IsNotFound()) return FromRocks(s, "read store id");
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  s = db_->Put(wo, cf(Cf::kMeta), kMetaStoreId, options_.store_id);
  if (!s.ok()) return FromRocks(s, "write store id");
  // Durable now (RocksDB's WAL is off): the memtables hold nothing else yet
  // (replay comes later), so this flush is small.
  std::vector<rocksdb::ColumnFamilyHandle*> all(cf_.begin(), cf_.end());
  all.push_back(default_cf_);
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(db_->Flush(fo, all), "flush store id");
}

Status DbImpl::Recover(ReplayProgress* progress) {
  const auto start = std::chrono::steady_clock::now();
  const Lsn applied = applied_lsn();
  STEMEDB_RETURN_IF_ERROR(LoadProjectUsage());
  wal::WalOptions wo = options_.wal;
  // An empty WAL dir (restored checkpoint, everything purged) must continue
  // after what RocksDB already holds, never reuse an LSN.
  wo.next_lsn_floor = std::max(wo.next_lsn_floor, applied.next());
  wal::RecoveryReport report;
  Result<std::unique_ptr<wal::Wal>> wal = wal::Wal::Open(wo, &report);
  if (!wal) return wal.error();
  wal_ = std::move(*wal);
  if (progress) {
    progress->start_lsn.store(applied.next().value());
    progress->end_lsn.store(std::max(report.last_lsn, applied).value());
  }
  // Consecutive records are applied in groups, like the apply thread does.
  ApplyGroup group;
  Lsn next = applied.next();
  Status st = wal_->Replay(applied.next(), [&](const wal::ReplayedRecord& rec) -> Status {
    if (rec.lsn != next) {
      return Status::Corruption("WAL gap: expected LSN " + std::to_string(next.value()) +
                                ", found " + std::to_string(rec.lsn.value()));
    }
    Result<WalEntry> e = DecodeWalEntry(rec.payload);
    if (!e) return e.error().WithContext("WAL LSN " + std::to_string(rec.lsn.value()));
    if (NeedsCommitBefore(*e, group)) STEMEDB_RETURN_IF_ERROR(CommitGroup(&group));
    Result<CommitInfo> r = Stage(rec.lsn, *e, rec.payload.size(), &group);
    // NotFound/Conflict are deterministic apply outcomes (the client got the
    // same answer the first time); only a failure to write stops recovery.
    if (!r && failed_.load()) return r.error();
    next = rec.lsn.next();
    if (progress) progress->records_replayed.fetch_add(1);
    return Status::OK();
  });
  if (st.ok()) st = CommitGroup(&group);
  if (!st.ok()) return st;
  replay_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (applied_lsn() != applied) {
    log::Info("engine: replayed WAL", {{"from_lsn", std::to_string(applied.next().value())},
                                       {"to_lsn", std::to_string(applied_lsn().value())},
                                       {"seconds", std::to_string(replay_seconds_)}});
  }
  if (progress) progress->done.store(true);
  return Status::OK();
}

void DbImpl::StartMaintenance() {
  maint_thread_ = std::thread([this] {
    SetThreadName("stemedb-flush");
    MaintenanceLoop();
  });
}

void DbImpl::MaintenanceLoop() {
  std::unique_lock<std::mutex> lock(maint_mu_);
  while (!maint_stop_) {
    maint_cv_.wait_for(lock, std::chrono::seconds(1), [this] {
      return maint_stop_ || unflushed_bytes_.load() >= options_.max_unflushed_wal_bytes;
    });
    if (maint_stop_) break;
    if (unflushed_bytes_.load() < options_.max_unflushed_wal_bytes) continue;
    lock.unlock();
    Result<Lsn> r = FlushAndPurge();
    if (!r) log::Warn("engine: flush failed", {{"error", r.error().ToString()}});
    lock.lock();
  }
}

void DbImpl::StopMaintenance() {
  {
    std::lock_guard<std::mutex> lock(maint_mu_);
    maint_stop_ = true;
  }
  maint_cv_.notify_all();
  if (maint_thread_.joinable()) maint_thread_.join();
}

bool DbImpl::writable() const {
  return !closing_.load() && !failed_.load() && wal_ != nullptr && wal_->healthy();
}

Status DbImpl::failure() const {
  {
    std::lock_guard<std::mutex> lock(failure_mu_);
    if (!failure_.ok()) return failure_;
  }
  if (wal_ != nullptr) return wal_->failure();
  return Status::OK();
}

void DbImpl::SetFailure(const Status& s) {
  std::lock_guard<std::mutex> lock(failure_mu_);
  if (failure_.ok()) {
    failure_ = Status::Failed("engine apply failed, restart to recover: " + s.ToString());
    log::Error("engine: apply failed; refusing writes until restart", {{"error", s.ToString()}});
  }
  failed_.store(true);
}

DatabaseStats DbImpl::stats() {
  DatabaseStats st;
  st.applied_lsn = applied_lsn();
  st.flushed_lsn = Lsn(flushed_lsn_.load());
  st.replay_seconds = replay_seconds_;
  st.apply_writes = apply_writes_.load(std::memory_order_relaxed);
  std::shared_lock<std::shared_mutex> lock(rocks_mu_);
  if (db_ != nullptr) {
    uint64_t v = 0;
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimatePendingCompactionBytes,
                                      &v)) {
      st.pending_compaction_bytes = v;
    }
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kLiveSstFilesSize, &v)) {
      st.live_sst_bytes = v;
    }
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
      st.memtable_bytes = v;
    }
  }
  if (wal_ != nullptr) st.wal = wal_->stats();
  return st;
}

Result<Lsn> DbImpl::FlushAndPurge() {
  std::lock_guard<std::mutex> lock(owner_mu_);
  if (closed_.load()) return Status::Unavailable("database closed");
  // Everything applied before Flush starts is in the flushed memtables.
  const Lsn covered = applied_lsn();
  const uint64_t bytes = unflushed_bytes_.load();
  std::vector<rocksdb::ColumnFamilyHandle*> all(cf_.begin(), cf_.end());
  all.push_back(default_cf_);
  rocksdb::FlushOptions fo;
  fo.wait = true;
  fo.allow_write_stall = true;
  rocksdb::Status s = db_->Flush(fo, all);
  if (!s.ok()) return FromRocks(s, "flush");
  unflushed_bytes_.fetch_sub(std::min(bytes, unflushed_bytes_.load()));
  flushed_lsn_.store(std::max(flushed_lsn_.load(), covered.value()));
  if (wal_ != nullptr && !closing_.load()) {
    STEMEDB_RETURN_IF_ERROR(wal_->PurgeObsoleteSegments(covered, options_.keep_wal_segments));
  }
  return covered;
}

Result<Lsn> DbImpl::CreateCheckpoint(const std::string& dir) {
  {
    std::lock_guard<std::mutex> lock(owner_mu_);
    if (closed_.load()) return Status::Unavailable("database closed");
    if (std::filesystem::exists(dir)) return Status::InvalidArgument(dir + " already exists");
    rocksdb::Checkpoint* raw = nullptr;
    rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
    if (!s.ok()) return FromRocks(s, "checkpoint");
    std::unique_ptr<rocksdb::Checkpoint> cp(raw);
    // log_size_for_flush = 0: always flush (atomically) first, so the
    // checkpoint is a set of SSTs consistent at one applied LSN.
    s = cp->CreateCheckpoint(dir, 0);
    if (!s.ok()) return FromRocks(s, "checkpoint " + dir);
    // RocksDB syncs the checkpoint directory's contents, not its entry.
    STEMEDB_RETURN_IF_ERROR(SyncParentDir(DirEnv(options_), dir));
  }
  // Read the LSN the checkpoint really holds (writes may have landed between
  // any LSN we could sample here and the flush inside CreateCheckpoint).
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Options ro_options(MakeDbOptions(options_), rocksdb::ColumnFamilyOptions());
  rocksdb::Status s =
      rocksdb::DB::OpenForReadOnly(ro_options, dir, Descriptors(options_, cache_), &handles, &raw);
  if (!s.ok()) return FromRocks(s, "open checkpoint " + dir);
  std::unique_ptr<rocksdb::DB> ro(raw);
  Result<uint64_t> lsn =
      ReadFixedMeta(ro.get(), handles[1 + static_cast<size_t>(Cf::kMeta)], kMetaAppliedLsn);
  for (auto* h : handles) ro->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  if (!lsn) return lsn.error();
  return Lsn(*lsn);
}

void DbImpl::CloseRocks() {
  std::unique_lock<std::shared_mutex> lock(rocks_mu_);
  if (db_ == nullptr) return;
  for (auto*& h : cf_) {
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    h = nullptr;
  }
  if (default_cf_ != nullptr) db_->DestroyColumnFamilyHandle(default_cf_).PermitUncheckedError();
  default_cf_ = nullptr;
  rocksdb::Status s = db_->Close();
  if (!s.ok()) log::Warn("engine: rocksdb close", {{"error", s.ToString()}});
  db_.reset();
}

Status DbImpl::Close() {
  if (closed_.load()) return Status::OK();
  StopPurger();  // its steps are writes: before closing_ refuses them
  closing_.store(true);
  StopMaintenance();
  Status result;
  if (wal_ != nullptr) {
    // Drains queued appends; their callbacks still apply to RocksDB.
    std::lock_guard<std::mutex> lock(owner_mu_);
    result = wal_->Close();
  }
  StopApplier();  // applies what the WAL made durable before it closed
  if (db_ != nullptr) {
    Result<Lsn> flushed = FlushAndPurge();
    if (!flushed && result.ok()) result = flushed.error();
  }
  std::lock_guard<std::mutex> lock(owner_mu_);
  closed_.store(true);
  CloseRocks();
  return result;
}

#ifdef STEMEDB_FAILPOINTS
void DbImpl::TEST_CrashClose() {
  if (closed_.load()) return;
  StopPurger();  // its steps are writes: before closing_ refuses them
  closing_.store(true);
  StopMaintenance();
  std::lock_guard<std::mutex> lock(owner_mu_);
  if (wal_ != nullptr) wal_->Close().IgnoreError("simulated crash");
  StopApplier();
  closed_.store(true);
  CloseRocks();
}
#endif

}  // namespace stemedb::engine
