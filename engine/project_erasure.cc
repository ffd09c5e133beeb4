// Project deletion and erasure (engine/FORMAT.md §1 kinds 4 and 5, §8).
//
// A project of a million assertions cannot be removed in one WriteBatch, and
// a crash half-way must neither show a half-deleted project nor let any of it
// reappear. So deletion is a durable marker plus bounded steps, all through
// the WAL:
//   kMark   puts `deleting:<project>` in `meta` and hides the project at once
//           (reads empty, writes refused with Conflict);
//   kPurge  removes up to N of its assertions (the first N of its
//           idx_subject range: the choice depends only on the state, so
//           replay removes exactly the same ones); the step that finds none
//           left removes the index ranges, idempotency records, agent keys,
//           registry record, holds and the marker.
// The purge thread submits kPurge steps while a marker exists, so a restart
// (which reloads the markers before replay) simply carries on.
#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <shared_mutex>
#include <unordered_set>
#include <vector>

#include "engine/coding.h"
#include "engine/db_impl.h"
#include "util/logging.h"
#include "util/thread_name.h"

namespace stemedb::engine {
namespace {

// meta CF: a project being deleted -> the LSN of its kMark (u64be).
constexpr std::string_view kMetaDeletingPrefix = "deleting:";

// Assertions removed per kPurge step: bounds the apply thread's time per step
// (a few milliseconds), so other projects' writes wait at most that long.
constexpr uint32_t kPurgeChunk = 512;

std::string DeletingKey(std::string_view project) {
  std::string k(kMetaDeletingPrefix);
  k.append(project);
  return k;
}

std::string ProjectPrefix(std::string_view project) {
  std::string p;
  AppendComponent(&p, project);
  return p;
}

}  // namespace

const std::string* DbImpl::WrittenProject(const LogEntry& e) {
  if (const auto* b = std::get_if<AssertBatchEntry>(&e)) return &b->project;
  if (const auto* r = std::get_if<RetractEntry>(&e)) return &r->project;
  if (const auto* i = std::get_if<ImportEntry>(&e)) return &i->project;
  return nullptr;
}

bool DbImpl::ProjectHidden(std::string_view project) const {
  if (deleting_count_.load(std::memory_order_acquire) == 0) return false;
  std::shared_lock<std::shared_mutex> lock(deleting_mu_);
  return deleting_.find(project) != deleting_.end();
}

Status DbImpl::LoadDeletionMarkers() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kMeta)));
  std::set<std::string, std::less<>> found;
  for (it->Seek(kMetaDeletingPrefix); it->Valid() && it->key().starts_with(kMetaDeletingPrefix);
       it->Next()) {
    found.emplace(it->key().ToStringView().substr(kMetaDeletingPrefix.size()));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read deletion markers");
  std::unique_lock<std::shared_mutex> lock(deleting_mu_);
  deleting_ = std::move(found);
  deleting_count_.store(deleting_.size(), std::memory_order_release);
  return Status::OK();
}

void DbImpl::FinishDeletions(std::vector<std::string>* projects) {
  std::unique_lock<std::shared_mutex> lock(deleting_mu_);
  for (const std::string& p : *projects) deleting_.erase(p);
  deleting_count_.store(deleting_.size(), std::memory_order_release);
}

Result<uint64_t> DbImpl::StageRemoveAssertion(std::string_view project, std::string_view id,
                                              bool subject_index, rocksdb::WriteBatch* batch) {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kAssertions), id, &v);
  if (s.IsNotFound()) return uint64_t{0};
  if (!s.ok()) return FromRocks(s, "read assertion");
  return StageRemoveRecord(project, id, v, subject_index, batch);
}

Result<uint64_t> DbImpl::StageRemoveRecord(std::string_view project, std::string_view id,
                                           std::string_view v, bool subject_index,
                                           rocksdb::WriteBatch* batch) {
  AssertionRecordView r;
  if (!DecodeAssertionRecordView(v, &r)) {
    return Status::Corruption("assertion record " + std::string(id) + ": malformed");
  }
  if (r.project != project) return uint64_t{0};
  uint64_t removed = 1;
  int64_t bytes = StoredBytesOfAssertion(id, v);
  batch->Delete(cf(Cf::kAssertions), id).PermitUncheckedError();
  for (auto [index, c] : {std::pair{IndexId::kSubject, Cf::kIdxSubject},
                          std::pair{IndexId::kPredicate, Cf::kIdxPredicate},
                          std::pair{IndexId::kAgent, Cf::kIdxAgent}}) {
    if (index == IndexId::kSubject && !subject_index) continue;
    batch
        ->Delete(cf(c), IndexKey(index, r.project, r.subject, r.predicate, r.agent_id, r.lsn,
                                 r.ordinal, id))
        .PermitUncheckedError();
  }
  if (!r.retraction_id.empty()) {
    std::string rv;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), cf(Cf::kRetractions), r.retraction_id, &rv);
    if (s.ok()) {
      bytes += StoredBytesOfRetraction(r.retraction_id, rv);
      batch->Delete(cf(Cf::kRetractions), r.retraction_id).PermitUncheckedError();
      ++removed;
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "read retraction");
    }
  }
  usage_.Add(project, -1, -bytes, 0);
  return removed;
}

Result<CommitInfo> DbImpl::ApplyDeleteProject(Lsn lsn, int64_t recorded,
                                              const DeleteProjectEntry& e, ApplyGroup* g) {
  CommitInfo info{lsn, recorded, {}, false};
  rocksdb::WriteBatch* batch = &g->batch;
  if (e.step == DeleteProjectEntry::Step::kMark) {
    if (ProjectHidden(e.project)) return info;  // already being deleted
    std::string v;
    PutFixed64BE(&v, lsn.value());
    batch->Put(cf(Cf::kMeta), DeletingKey(e.project), v).PermitUncheckedError();
    {
      std::unique_lock<std::shared_mutex> lock(deleting_mu_);
      deleting_.emplace(e.project);
      deleting_count_.store(deleting_.size(), std::memory_order_release);
    }
    purge_cv_.notify_one();
    return info;
  }
  // A step of 0 would find "nothing left" without looking: a no-op instead.
  if (e.max_assertions == 0) return info;
  // kPurge of a project that is not (or no longer) being deleted: nothing.
  if (!ProjectHidden(e.project)) {
    info.finished = true;
    return info;
  }
  const std::string prefix = ProjectPrefix(e.project);
  const std::string end = ComponentPrefixEnd(prefix);
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(end);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(Cf::kIdxSubject)));
  uint32_t n = 0;
  std::string last_key;
  for (it->Seek(prefix); it->Valid() && n < e.max_assertions; it->Next(), ++n) {
    ParsedIndexKey k;
    if (!ParseIndexKey(it->key().ToStringView(), &k)) {
      return Status::Corruption("idx_subject: malformed key");
    }
    Result<uint64_t> removed = StageRemoveAssertion(e.project, k.id, false, batch);
    if (!removed) return removed.error();
    info.removed += *removed;
    last_key = it->key().ToString();
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan project");
  if (n > 0) {
    // One range tombstone for the subject entries of this step, so the next
    // step's seek skips them at once instead of stepping over point
    // tombstones.
    last_key.push_back('\0');
    batch->DeleteRange(cf(Cf::kIdxSubject), prefix, last_key).PermitUncheckedError();
  }
  if (n == e.max_assertions) return info;
  // Nothing left of the project's assertions: everything else it owns.
  for (Cf c : {Cf::kIdxSubject, Cf::kIdxPredicate, Cf::kIdxAgent, Cf::kIdempotency}) {
    batch->DeleteRange(cf(c), prefix, end).PermitUncheckedError();
  }
  auto system_range = [&](SystemTable t) {
    std::string lo(e.project);
    lo.push_back('\0');
    std::string hi(e.project);
    hi.push_back('\x01');
    batch->DeleteRange(cf(Cf::kSystem), SystemKey(t, lo), SystemKey(t, hi)).PermitUncheckedError();
  };
  system_range(SystemTable::kAgentKeys);
  system_range(SystemTable::kHolds);
  batch->Delete(cf(Cf::kSystem), SystemKey(SystemTable::kProjects, e.project))
      .PermitUncheckedError();
  batch->Delete(cf(Cf::kMeta), DeletingKey(e.project)).PermitUncheckedError();
  usage_.SetLimits(e.project, std::nullopt);
  usage_.Forget(e.project);
  g->unhide.push_back(e.project);
  info.finished = true;
  return info;
}

Result<CommitInfo> DbImpl::ApplyErase(Lsn lsn, int64_t recorded, const EraseEntry& e,
                                      rocksdb::WriteBatch* batch) {
  CommitInfo info{lsn, recorded, {}, false};
  // One MultiGet for every record: the lookups share the work per SST and
  // block (a sweep's ids are neighbours in id order), which keeps the step,
  // and so what a write queued behind it waits for, short.
  std::unordered_set<std::string_view> seen;
  std::vector<rocksdb::Slice> keys;
  keys.reserve(e.ids.size());
  for (const std::string& id : e.ids) {
    if (seen.insert(id).second) keys.emplace_back(id);  // removed once
  }
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db_->MultiGet(rocksdb::ReadOptions(), cf(Cf::kAssertions), keys.size(), keys.data(),
                values.data(), statuses.data());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return FromRocks(statuses[i], "read assertion");
    Result<uint64_t> removed =
        StageRemoveRecord(e.project, keys[i].ToStringView(), values[i].ToStringView(), true, batch);
    if (!removed) return removed.error();
    info.removed += *removed;
  }
  return info;
}

Result<Database::ProjectState> DbImpl::GetProjectState(std::string_view project) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  if (ProjectHidden(project)) return ProjectState::kDeleting;
  const std::string prefix = ProjectPrefix(project);
  const std::string end = ComponentPrefixEnd(prefix);
  auto any_in = [&](Cf c, const std::string& lo, const std::string& hi) -> Result<bool> {
    rocksdb::ReadOptions ro;
    rocksdb::Slice upper(hi);
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(c)));
    it->Seek(lo);
    if (!it->status().ok()) return FromRocks(it->status(), "project state");
    return it->Valid();
  };
  std::string agents_lo(project);
  agents_lo.push_back('\0');
  std::string agents_hi(project);
  agents_hi.push_back('\x01');
  const std::pair<Cf, std::pair<std::string, std::string>> ranges[] = {
      {Cf::kIdxSubject, {prefix, end}},
      {Cf::kIdempotency, {prefix, end}},
      {Cf::kSystem,
       {SystemKey(SystemTable::kAgentKeys, agents_lo),
        SystemKey(SystemTable::kAgentKeys, agents_hi)}},
  };
  for (const auto& [c, range] : ranges) {
    Result<bool> any = any_in(c, range.first, range.second);
    if (!any) return any.error();
    if (*any) return ProjectState::kPresent;
  }
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kSystem),
                               SystemKey(SystemTable::kProjects, project), &v);
  if (s.ok()) return ProjectState::kPresent;
  if (!s.IsNotFound()) return FromRocks(s, "read project record");
  return ProjectState::kAbsent;
}

Status DbImpl::ScanAssertionIds(
    std::string_view after_id, std::string_view before_id,
    const std::function<bool(std::string_view id, std::string_view project,
                             std::string_view subject)>& fn) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  const rocksdb::Slice upper(before_id.data(), before_id.size());
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(Cf::kAssertions)));
  it->Seek(rocksdb::Slice(after_id.data(), after_id.size()));
  if (it->Valid() && it->key().ToStringView() == after_id) it->Next();
  for (; it->Valid(); it->Next()) {
    AssertionRecordView r;
    if (!DecodeAssertionRecordView(it->value().ToStringView(), &r)) {
      return Status::Corruption("assertion record " + it->key().ToString() + ": malformed");
    }
    if (ProjectHidden(r.project)) continue;
    if (!fn(it->key().ToStringView(), r.project, r.subject)) break;
  }
  return FromRocks(it->status(), "scan assertions");
}

void DbImpl::StartPurger() {
  {
    // Markers loaded at open or re-applied by replay: deletions a restart
    // interrupted.
    std::shared_lock<std::shared_mutex> lock(deleting_mu_);
    for (const std::string& p : deleting_) {
      log::Info("engine: resuming deletion of project", {{"project", p}});
    }
  }
  purge_thread_ = std::thread([this] {
    SetThreadName("stemedb-purge");
    PurgeLoop();
  });
}

void DbImpl::StopPurger() {
  {
    std::lock_guard<std::mutex> lock(purge_mu_);
    purge_stop_ = true;
  }
  compaction_canceled_.store(true);
  purge_cv_.notify_all();
  if (purge_thread_.joinable()) purge_thread_.join();
}

void DbImpl::PurgeLoop() {
  bool warned = false;  // one warning per run of failures (a standby refuses every step)
  std::unique_lock<std::mutex> lock(purge_mu_);
  while (!purge_stop_) {
    std::string project;
    {
      std::shared_lock<std::shared_mutex> d(deleting_mu_);
      if (!deleting_.empty()) project = *deleting_.begin();
    }
    if (project.empty()) {
      // Woken by a kMark; the timeout covers a notify that raced this check.
      purge_cv_.wait_for(lock, std::chrono::seconds(1));
      continue;
    }
    lock.unlock();
    Result<CommitInfo> r =
        Submit(DeleteProjectEntry{project, DeleteProjectEntry::Step::kPurge, kPurgeChunk});
    if (r && r->finished) {
      log::Info("engine: project deleted", {{"project", project}});
      // Lets the WAL segments that hold the project go (keep_wal_segments
      // aside) before the compaction rewrites the SSTs without it.
      Result<Lsn> flushed = FlushAndPurge();
      if (!flushed) {
        log::Warn("engine: flush after deletion", {{"error", flushed.error().ToString()}});
      }
      CompactDeletedProject(project);
    }
    lock.lock();
    if (r) warned = false;
    if (!r) {
      // Closing, or the store fail-stopped: retry later (or stop).
      if (!purge_stop_ && !warned) {
        warned = true;
        log::Warn("engine: project deletion step failed",
                  {{"project", project}, {"error", r.error().ToString()}});
      }
      purge_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return purge_stop_; });
    }
  }
}

void DbImpl::CompactDeletedProject(const std::string& project) {
  // The project's keys are contiguous in the index and idempotency families;
  // its assertion and retraction ids are spread over the whole id space
  // (they start with their creation time), so those families are compacted
  // whole. kForce: the bottommost level too, or the bytes would stay there
  // until some later compaction happened to rewrite them.
  const std::string prefix = ProjectPrefix(project);
  const std::string end = ComponentPrefixEnd(prefix);
  const rocksdb::Slice lo(prefix);
  const rocksdb::Slice hi(end);
  rocksdb::CompactRangeOptions o;
  o.exclusive_manual_compaction = false;
  o.canceled = &compaction_canceled_;  // Close does not wait for a full compaction
  o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (Cf c : {Cf::kIdxSubject, Cf::kIdxPredicate, Cf::kIdxAgent, Cf::kIdempotency}) {
    rocksdb::Status s = db_->CompactRange(o, cf(c), &lo, &hi);
    if (compaction_canceled_.load()) return;  // closing
    if (!s.ok()) log::Warn("engine: compaction after deletion", {{"error", s.ToString()}});
  }
  for (Cf c : {Cf::kAssertions, Cf::kRetractions}) {
    rocksdb::Status s = db_->CompactRange(o, cf(c), nullptr, nullptr);
    if (compaction_canceled_.load()) return;
    if (!s.ok()) log::Warn("engine: compaction after deletion", {{"error", s.ToString()}});
  }
}

}  // namespace stemedb::engine
