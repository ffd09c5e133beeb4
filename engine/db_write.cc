// The write path: encode, append to the WAL, apply durable records in groups
// on the apply thread.
#include <rocksdb/write_batch.h>

#include <cassert>
#include <chrono>
#include <future>
#include <unordered_set>

#include "engine/coding.h"
#include "engine/db_impl.h"
#include "util/thread_name.h"
#include "util/time_format.h"

namespace stemedb::engine {
namespace {

std::string Fixed64(uint64_t v) {
  std::string s;
  PutFixed64BE(&s, v);
  return s;
}

}  // namespace

Status DbImpl::AcceptingWrites() const {
  if (closing_.load()) return Status::Unavailable("database closing");
  if (failed_.load()) return failure();
  return Status::OK();
}

void DbImpl::SubmitAsync(LogEntry entry, CommitCallback done, wal::AppendHint hint) {
  if (Status s = AcceptingWrites(); !s.ok()) return done(s);
  if (writes_refused_.load()) return done(write_refusal());
  auto e = std::make_shared<WalEntry>();
  e->recorded_at_us = UnixMicrosNow();
  e->entry = std::move(entry);
  std::string payload = EncodeWalEntry(*e);
  AppendAndApply(std::move(e), std::move(payload), std::nullopt, std::move(done), hint);
}

void DbImpl::ReplicateAsync(Lsn lsn, std::string payload, CommitCallback done) {
  if (Status s = AcceptingWrites(); !s.ok()) return done(s);
  Result<WalEntry> decoded = DecodeWalEntry(payload);
  if (!decoded) {
    done(Status::Corruption("replicated record " + std::to_string(lsn.value()) + ": " +
                            decoded.error().message()));
    return;
  }
  std::lock_guard<std::mutex> lock(replicate_mu_);
  // Records handed over but not yet given their LSN by the WAL writer are
  // counted: the WAL assigns LSNs in queue order.
  if (replicate_next_ == 0) replicate_next_ = wal_->last_lsn().value() + 1;
  if (lsn.value() != replicate_next_) {
    done(Status::InvalidArgument("replicated record " + std::to_string(lsn.value()) +
                                 " is not the next LSN of this log (" +
                                 std::to_string(replicate_next_) + ")"));
    return;
  }
  replicate_next_ = lsn.value() + 1;
  AppendAndApply(std::make_shared<WalEntry>(std::move(*decoded)), std::move(payload), lsn,
                 std::move(done));
}

void DbImpl::SetWriteRefusal(Status reason) {
  {
    // Writes may take LSNs from here on: replication starts over from the log.
    std::lock_guard<std::mutex> lock(replicate_mu_);
    replicate_next_ = 0;
  }
  std::lock_guard<std::mutex> lock(failure_mu_);
  writes_refused_.store(!reason.ok());
  write_refusal_ = std::move(reason);
}

Status DbImpl::write_refusal() const {
  std::lock_guard<std::mutex> lock(failure_mu_);
  return write_refusal_;
}

void DbImpl::AppendAndApply(std::shared_ptr<WalEntry> e, std::string payload,
                            std::optional<Lsn> expected, CommitCallback done,
                            wal::AppendHint hint) {
  const size_t bytes = payload.size();
  const std::thread::id submitter = std::this_thread::get_id();
  wal_->AppendAsync(
      std::move(payload),
      [this, e, bytes, submitter, expected, done = std::move(done)](Result<Lsn> lsn) mutable {
        if (!lsn) {
          done(lsn.error());
          return;
        }
        if (expected && *lsn != *expected) {
          // Another write got in between: this log no longer
          // mirrors the primary's. Nothing of it is applied.
          SetFailure(Status::Failed("replicated record " + std::to_string(expected->value()) +
                                    " was logged at LSN " + std::to_string(lsn->value())));
          done(failure());
          return;
        }
        // Runs while this record's WAL group is the only one being completed,
        // in LSN order; queueing keeps that order. A record the WAL committed
        // inline (on the submitting thread: the log was idle) is applied inline
        // too if the apply thread is idle with nothing queued, i.e. every
        // earlier LSN is applied: no handoff at all for a lone writer.
        PendingApply p{*lsn, std::move(e), bytes, std::move(done)};
        std::unique_lock<std::mutex> lock(apply_mu_);
        if (std::this_thread::get_id() == submitter && !applying_ && apply_queue_.empty() &&
            !apply_stop_) {
          applying_ = true;
          lock.unlock();
          ApplyInline(std::move(p));
          return;
        }
        apply_queue_.push_back(std::move(p));
        const bool wake = !applying_;
        lock.unlock();
        if (wake) apply_cv_.notify_one();
      },
      hint);
}

void DbImpl::ApplyInline(PendingApply p) {
  ApplyGroup& group = inline_group_;
  Result<CommitInfo> result = Stage(p.lsn, *p.entry, p.payload_bytes, &group);
  const Status s = CommitGroup(&group);
  {
    std::lock_guard<std::mutex> lock(apply_mu_);
    applying_ = false;
  }
  // Only the WAL's group-token holder queues work, and that is this thread.
  p.done(s.ok() ? std::move(result) : Result<CommitInfo>(s));
}

void DbImpl::StartApplier() {
  apply_thread_ = std::thread([this] {
    SetThreadName("stemedb-apply");
    ApplierLoop();
  });
}

void DbImpl::ApplierLoop() {
  std::deque<PendingApply> work;
  std::vector<Result<CommitInfo>> results;
  ApplyGroup group;
  std::unique_lock<std::mutex> lock(apply_mu_);
  for (;;) {
    applying_ = false;
    apply_cv_.wait(lock, [this] { return apply_stop_ || !apply_queue_.empty(); });
    if (apply_queue_.empty()) break;  // stop requested and nothing left
    work.swap(apply_queue_);
    applying_ = true;  // the apply token: staging state is ours until we loop
    lock.unlock();
    results.clear();
    results.reserve(work.size());
    size_t replied = 0;  // work[0, replied) have had their callback
    // A failed write fails every entry of the group: their records are in
    // the WAL, so a restart applies them, but none is acknowledged as applied.
    auto commit_and_reply = [&](size_t end) {
      const Status s = CommitGroup(&group);
      for (; replied < end; ++replied) {
        work[replied].done(s.ok() ? std::move(results[replied]) : Result<CommitInfo>(s));
      }
    };
    for (size_t i = 0; i < work.size(); ++i) {
      const PendingApply& p = work[i];
      if (NeedsCommitBefore(*p.entry, group)) commit_and_reply(i);
      results.push_back(Stage(p.lsn, *p.entry, p.payload_bytes, &group));
    }
    commit_and_reply(work.size());
    work.clear();
    lock.lock();
  }
}

void DbImpl::StopApplier() {
  {
    std::lock_guard<std::mutex> lock(apply_mu_);
    apply_stop_ = true;
  }
  apply_cv_.notify_all();
  if (apply_thread_.joinable()) apply_thread_.join();
}

Result<CommitInfo> DbImpl::Submit(LogEntry entry) {
  std::promise<Result<CommitInfo>> p;
  std::future<Result<CommitInfo>> f = p.get_future();
  SubmitAsync(std::move(entry), [&p](Result<CommitInfo> r) { p.set_value(std::move(r)); });
  return f.get();
}

bool DbImpl::KeyExists(Cf c, std::string_view key) {
  std::string v;
  return db_->Get(rocksdb::ReadOptions(), cf(c), key, &v).ok();
}

Status DbImpl::CheckIdempotency(std::string_view project, const std::optional<IdempotencyToken>& t,
                                std::optional<CommitInfo>* dedup) {
  if (!t) return Status::OK();
  std::string v;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(Cf::kIdempotency), IdempotencyKey(project, t->key), &v);
  if (s.IsNotFound()) return Status::OK();
  if (!s.ok()) return FromRocks(s, "read idempotency");
  Result<IdempotencyRecord> rec = DecodeIdempotencyRecord(v);
  if (!rec) return rec.error();
  if (rec->request_hash != t->request_hash) {
    return Status::Conflict("idempotency key already used with a different request");
  }
  CommitInfo info;
  info.lsn = rec->lsn;
  info.recorded_at_us = rec->recorded_at_us;
  info.ids = std::move(rec->ids);
  info.deduplicated = true;
  *dedup = std::move(info);
  return Status::OK();
}

void DbImpl::PutIdempotency(std::string_view project, const std::optional<IdempotencyToken>& t,
                            const CommitInfo& info, rocksdb::WriteBatch* batch) {
  if (!t) return;
  IdempotencyRecord rec;
  rec.request_hash = t->request_hash;
  rec.lsn = info.lsn;
  rec.recorded_at_us = info.recorded_at_us;
  rec.ids = info.ids;
  batch->Put(cf(Cf::kIdempotency), IdempotencyKey(project, t->key), EncodeIdempotencyRecord(rec))
      .PermitUncheckedError();
}

Result<CommitInfo> DbImpl::ApplyAssertBatch(Lsn lsn, int64_t recorded, const AssertBatchEntry& e,
                                            rocksdb::WriteBatch* batch) {
  std::optional<CommitInfo> dedup;
  STEMEDB_RETURN_IF_ERROR(CheckIdempotency(e.project, e.idempotency, &dedup));
  if (dedup) return *dedup;
  // Ids come from api/ (NewId): 64 bits of creation time (microseconds) and
  // 64 random bits from libsodium's CSPRNG. Two ids can only collide within
  // one microsecond, where even a thousand ids collide with chance ~10^-14,
  // so the store does not pay a point lookup per assertion on the single
  // apply thread to look for one (that cost capped batch throughput). A
  // duplicate inside one entry is a caller bug and is still refused
  // (deterministically, so also on replay).
  if (e.assertions.size() > 1) {
    std::unordered_set<std::string_view> seen;
    for (const NewAssertion& a : e.assertions) {
      if (!seen.insert(a.id).second) {
        return Status::Conflict("duplicate assertion id in one batch: " + a.id);
      }
    }
  }
  CommitInfo info;
  info.lsn = lsn;
  info.recorded_at_us = recorded;
  info.ids.reserve(e.assertions.size());
  // The record, its JSON and the index keys are built in buffers the apply
  // thread reuses (WriteBatch::Put copies): no allocation per assertion.
  ApplyScratch& s = scratch_;
  // A project with limits is measured before it is decided: the batch is
  // staged, then rolled back whole if it would pass a limit.
  const bool limited = usage_.HasLimits(e.project);
  if (limited) batch->SetSavePoint();
  int64_t bytes = 0;
  uint32_t ordinal = 0;
  for (const NewAssertion& a : e.assertions) {
    s.json.clear();
    AppendAssertionJson(&s.json, e.project, a, lsn, recorded);
    s.value.clear();
    AppendAssertionRecord(
        &s.value, AssertionRecordView{e.project, a.subject, a.predicate, a.agent_id, a.value_json,
                                      s.json, lsn, ordinal, Lsn(), ""});
    batch->Put(cf(Cf::kAssertions), a.id, s.value).PermitUncheckedError();
    for (auto [index, c] : {std::pair{IndexId::kSubject, Cf::kIdxSubject},
                            std::pair{IndexId::kPredicate, Cf::kIdxPredicate},
                            std::pair{IndexId::kAgent, Cf::kIdxAgent}}) {
      s.key.clear();
      AppendIndexKey(&s.key, index, e.project, a.subject, a.predicate, a.agent_id, lsn, ordinal,
                     a.id);
      batch->Put(cf(c), s.key, rocksdb::Slice()).PermitUncheckedError();
    }
    bytes += StoredBytesOfAssertion(a.id.size(), s.value.size(), s.key.size());
    info.ids.push_back(a.id);
    ++ordinal;
  }
  const auto count = static_cast<int64_t>(e.assertions.size());
  if (limited) {
    Status quota = usage_.CheckQuota(e.project, count, bytes);
    if (!quota.ok()) {
      batch->RollbackToSavePoint().PermitUncheckedError();
      return quota;
    }
    batch->PopSavePoint().PermitUncheckedError();
  }
  usage_.Add(e.project, count, bytes, recorded);
  PutIdempotency(e.project, e.idempotency, info, batch);
  return info;
}

Result<CommitInfo> DbImpl::ApplyRetract(Lsn lsn, int64_t recorded, const RetractEntry& e,
                                        rocksdb::WriteBatch* batch) {
  std::optional<CommitInfo> dedup;
  STEMEDB_RETURN_IF_ERROR(CheckIdempotency(e.project, e.idempotency, &dedup));
  if (dedup) return *dedup;
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kAssertions), e.target_id, &v);
  if (s.IsNotFound()) return Status::NotFound("assertion not found");
  if (!s.ok()) return FromRocks(s, "read assertion");
  Result<AssertionRecord> target = DecodeAssertionRecord(v);
  if (!target) return target.error();
  // Another project's id must look exactly like a missing one.
  if (target->project != e.project) return Status::NotFound("assertion not found");
  if (target->retracted_lsn.value() != 0) {
    return Status::Conflict("assertion already retracted by " + target->retraction_id);
  }
  if (KeyExists(Cf::kRetractions, e.retraction_id) || KeyExists(Cf::kAssertions, e.retraction_id)) {
    return Status::Conflict("retraction id already exists: " + e.retraction_id);
  }
  target->retracted_lsn = lsn;
  target->retraction_id = e.retraction_id;
  const std::string retracted = EncodeAssertionRecord(*target);
  batch->Put(cf(Cf::kAssertions), e.target_id, retracted).PermitUncheckedError();
  RetractionRecord rr;
  rr.project = e.project;
  rr.target_id = e.target_id;
  rr.lsn = lsn;
  rr.json = BuildRetractionJson(e.project, e.retraction_id, e.target_id, lsn, recorded);
  const std::string rr_value = EncodeRetractionRecord(rr);
  batch->Put(cf(Cf::kRetractions), e.retraction_id, rr_value).PermitUncheckedError();
  // Retractions are not refused by quota: the record grows and the
  // retraction is stored (engine/FORMAT.md §8).
  usage_.Add(e.project, 0,
             static_cast<int64_t>(retracted.size()) - static_cast<int64_t>(v.size()) +
                 StoredBytesOfRetraction(e.retraction_id, rr_value),
             recorded);
  CommitInfo info;
  info.lsn = lsn;
  info.recorded_at_us = recorded;
  info.ids.push_back(e.retraction_id);
  PutIdempotency(e.project, e.idempotency, info, batch);
  return info;
}

bool DbImpl::NeedsCommitBefore(const WalEntry& e, const ApplyGroup& g) const {
  if (g.last_lsn == Lsn()) return false;
  if (g.batch.GetDataSize() >= kMaxApplyGroupBytes) return true;
  if (std::holds_alternative<RetractEntry>(e.entry)) return true;
  // Deletion and erasure read the records they remove; whatever follows one
  // is decided against the removal.
  if (g.removal_staged || std::holds_alternative<DeleteProjectEntry>(e.entry) ||
      std::holds_alternative<EraseEntry>(e.entry)) {
    return true;
  }
  if (std::holds_alternative<ImportEntry>(e.entry)) return true;  // reads existing ids
  const auto* b = std::get_if<AssertBatchEntry>(&e.entry);
  return b != nullptr && b->idempotency &&
         g.tokens.count(IdempotencyKey(b->project, b->idempotency->key)) != 0;
}

Result<CommitInfo> DbImpl::Stage(Lsn lsn, const WalEntry& e, size_t payload_bytes, ApplyGroup* g) {
  if (failed_.load()) return failure();
  // Clamped so recorded_at never goes backwards along the LSN order (clocks
  // step; submitters race): time_index stays sorted and LsnAtTime is a seek.
  // The clamp state is persisted in `meta`, so replay computes the same value.
  const int64_t recorded = std::max<int64_t>({e.recorded_at_us, last_recorded_at_us_, 0});
  [[maybe_unused]] const uint32_t staged_before = g->batch.Count();
  Result<CommitInfo> result = CommitInfo{};
  if (const std::string* project = WrittenProject(e.entry);
      project != nullptr && ProjectHidden(*project)) {
    // Decided by the markers, which change only in LSN order: replay
    // refuses exactly what was refused live.
    result = Status::Conflict("project " + *project + " is being deleted");
  } else if (const auto* d = std::get_if<DeleteProjectEntry>(&e.entry)) {
    result = ApplyDeleteProject(lsn, recorded, *d, g);
    g->removal_staged = true;
  } else if (const auto* x = std::get_if<EraseEntry>(&e.entry)) {
    result = ApplyErase(lsn, recorded, *x, &g->batch);
    g->removal_staged = true;
  } else if (const auto* b = std::get_if<AssertBatchEntry>(&e.entry)) {
    result = ApplyAssertBatch(lsn, recorded, *b, &g->batch);
    if (result && b->idempotency) g->tokens.insert(IdempotencyKey(b->project, b->idempotency->key));
  } else if (const auto* r = std::get_if<RetractEntry>(&e.entry)) {
    result = ApplyRetract(lsn, recorded, *r, &g->batch);
    if (result && r->idempotency) g->tokens.insert(IdempotencyKey(r->project, r->idempotency->key));
  } else if (const auto* im = std::get_if<ImportEntry>(&e.entry)) {
    result = ApplyImport(lsn, recorded, *im, &g->batch);
  } else if (Status p = NoteProjectRecords(std::get<SystemEntry>(e.entry)); !p.ok()) {
    result = p;
  } else {
    for (const SystemWrite& w : std::get<SystemEntry>(e.entry).writes) {
      const std::string key = SystemKey(w.table, w.key);
      if (w.value) {
        g->batch.Put(cf(Cf::kSystem), key, *w.value).PermitUncheckedError();
      } else {
        g->batch.Delete(cf(Cf::kSystem), key).PermitUncheckedError();
      }
    }
    result = CommitInfo{lsn, recorded, {}, false};
  }
  if (!result) {
    if (result.error().code() != Status::Code::kNotFound &&
        result.error().code() != Status::Code::kConflict &&
        result.error().code() != Status::Code::kQuotaExceeded) {
      SetFailure(result.error());
      return result;
    }
    // A rejected entry still consumes its LSN (a no-op in the time index),
    // so replay does not need to re-decide it and applied_lsn stays dense.
    assert(g->batch.Count() == staged_before);
  }
  scratch_.key.clear();
  AppendTimeKey(&scratch_.key, recorded, lsn);
  g->batch.Put(cf(Cf::kTimeIndex), scratch_.key, rocksdb::Slice()).PermitUncheckedError();
  last_recorded_at_us_ = recorded;
  g->last_lsn = lsn;
  g->payload_bytes += payload_bytes;
  return result;
}

Status DbImpl::CommitGroup(ApplyGroup* g) {
  if (g->last_lsn == Lsn()) return Status::OK();
  const Lsn last = g->last_lsn;
  const uint64_t payload_bytes = g->payload_bytes;
  Status st = Status::OK();
  if (failed_.load()) {
    st = failure();
  } else {
    usage_.StageDirty(&g->batch, cf(Cf::kMeta));
    g->batch.Put(cf(Cf::kMeta), kMetaAppliedLsn, Fixed64(last.value())).PermitUncheckedError();
    g->batch
        .Put(cf(Cf::kMeta), kMetaLastRecordedAt,
             Fixed64(static_cast<uint64_t>(last_recorded_at_us_)))
        .PermitUncheckedError();
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    st = FromRocks(db_->Write(wo, &g->batch), "apply up to LSN " + std::to_string(last.value()));
    if (!st.ok()) SetFailure(st);
  }
  g->batch.Clear();
  g->tokens.clear();
  g->removal_staged = false;
  if (st.ok() && !g->unhide.empty()) FinishDeletions(&g->unhide);
  g->unhide.clear();
  g->last_lsn = Lsn();
  g->payload_bytes = 0;
  if (!st.ok()) return st;
  applied_lsn_.store(last.value(), std::memory_order_release);
  apply_writes_.fetch_add(1, std::memory_order_relaxed);
  if (unflushed_bytes_.fetch_add(payload_bytes) + payload_bytes >=
      options_.max_unflushed_wal_bytes) {
    maint_cv_.notify_one();
  }
  return Status::OK();
}

}  // namespace stemedb::engine
