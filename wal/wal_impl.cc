#include "wal/wal_impl.h"

#include <algorithm>

#include "util/logging.h"
#include "util/thread_name.h"
#include "wal/log_format.h"
#include "wal/log_reader.h"
#include "wal/segment_scan.h"

namespace stemedb::wal {

using Clock = std::chrono::steady_clock;

WalImpl::WalImpl(const WalOptions& options, Env* env, std::unique_ptr<FileLock> lock,
                 std::vector<SegmentInfo> segments, std::unique_ptr<LogWriter> active,
                 uint64_t next_lsn)
    : options_(options),
      env_(env),
      lock_(std::move(lock)),
      segments_(std::move(segments)),
      writer_(std::move(active)),
      next_lsn_(next_lsn),
      inline_commit_(options.inline_commit && options.sync_policy == SyncPolicy::kAlways),
      inline_max_sync_ns_(
          static_cast<uint64_t>(std::chrono::nanoseconds(options.inline_commit_max_sync).count())) {
  last_lsn_.store(next_lsn - 1);
  durable_lsn_.store(next_lsn - 1);
  if (options_.preallocate_next_segment) {
    preallocator_ = std::make_unique<Preallocator>(env_, options_.dir, options_.segment_bytes);
  }
  writer_thread_ = std::thread([this] {
    SetThreadName("stemedb-wal");
    WriterLoop();
  });
}

WalImpl::~WalImpl() { Close().IgnoreError("destructor; owners call Close and check it"); }

void WalImpl::AppendAsync(std::string payload, AppendCallback done, AppendHint hint) {
  {
    std::unique_lock<std::mutex> l(mu_);
    if (!closing_) {
      if (inline_commit_ && hint != AppendHint::kMoreFollows && queue_.empty() &&
          !group_in_progress_ && rotate_waiters_.empty() && InlineCommitPays()) {
        group_in_progress_ = true;  // the token: this caller writes the group
        l.unlock();
        return CommitInline(Pending{std::move(payload), std::move(done), 0});
      }
      // Failed state and oversize payloads are answered by the writer thread
      // too, so every callback runs there (callers may hold locks here).
      bool was_empty = queue_.empty();
      queue_.push_back(Pending{std::move(payload), std::move(done), 0});
      // A token holder looks at the queue again before it lets go.
      if (was_empty && !group_in_progress_) cv_.notify_one();
      return;
    }
  }
  // The writer is gone or leaving: nobody else can run the callback.
  done(Status::Unavailable("wal closed"));
}

Result<Lsn> WalImpl::Append(std::string payload) {
  std::promise<Result<Lsn>> promise;
  auto future = promise.get_future();
  AppendAsync(std::move(payload), [&promise](Result<Lsn> r) { promise.set_value(std::move(r)); });
  return future.get();
}

Status WalImpl::FailureStatus() {
  std::lock_guard<std::mutex> l(mu_);
  return failure_;
}

Status WalImpl::failure() const {
  std::lock_guard<std::mutex> l(mu_);
  return failure_;
}

Status WalImpl::FailStop(const Status& cause) {
  std::lock_guard<std::mutex> l(mu_);
  if (failure_.ok()) {
    // ENOSPC stays NoSpace (507 upstream); anything else is Failed.
    failure_ = cause.IsNoSpace() ? Status::NoSpace("wal fail-stopped: " + cause.message())
                                 : Status::Failed("wal fail-stopped: " + cause.ToString());
    failure_cache_ok_.store(false, std::memory_order_release);
    healthy_.store(false, std::memory_order_release);
    log::Error("wal fail-stop: no append will be acknowledged until restart",
               {{"error", cause.ToString()}, {"dir", options_.dir}});
  }
  return failure_;
}

void WalImpl::CommitInline(Pending pending) {
  inline_batch_.push_back(std::move(pending));
  const uint64_t before = groups_.load(std::memory_order_relaxed);
  ProcessBatch(inline_batch_);
  inline_groups_.fetch_add(groups_.load(std::memory_order_relaxed) - before,
                           std::memory_order_relaxed);
  inline_batch_.clear();
  std::lock_guard<std::mutex> l(mu_);
  group_in_progress_ = false;
  if (!queue_.empty() || !rotate_waiters_.empty() || closing_) cv_.notify_one();
}

bool WalImpl::InlineCommitPays() const {
  // A group of one takes a whole fdatasync. That is the right trade when
  // writers come one at a time (groups have been ~1 record): the record is
  // durable a thread handoff sooner. With concurrent writers, records that
  // arrive during the inline sync would wait for a second one; the writer
  // thread groups them instead. And a slow disk would stall the caller.
  return group_ewma_x16_.load(std::memory_order_relaxed) < kInlineMaxGroupX16 &&
         sync_ewma_ns_.load(std::memory_order_relaxed) <= inline_max_sync_ns_;
}

void WalImpl::ObserveSync(std::chrono::steady_clock::duration d) {
  fsyncs_.fetch_add(1, std::memory_order_relaxed);
  if (options_.probe) options_.probe->OnFsync(d);
  // EWMA with weight 1/8: a few slow syncs in a row turn inline commits off.
  const auto ns = static_cast<int64_t>(std::chrono::nanoseconds(d).count());
  const auto avg = static_cast<int64_t>(sync_ewma_ns_.load(std::memory_order_relaxed));
  sync_ewma_ns_.store(static_cast<uint64_t>(std::max<int64_t>(0, avg + (ns - avg) / 8)),
                      std::memory_order_relaxed);
}

void WalImpl::WriterLoop() {
  std::vector<Pending> batch;
  std::vector<std::promise<Status>*> rotations;
  for (;;) {
    bool closing;
    {
      std::unique_lock<std::mutex> l(mu_);
      // Work is only ours to take while no inline committer holds the token.
      auto has_work = [this] {
        return !group_in_progress_ && (!queue_.empty() || closing_ || !rotate_waiters_.empty());
      };
      if (options_.sync_policy == SyncPolicy::kInterval && unsynced_) {
        cv_.wait_until(l, sync_deadline_, has_work);
        if (group_in_progress_) continue;  // timed out while a group was written
      } else {
        cv_.wait(l, has_work);
      }
      batch.swap(queue_);
      rotations.swap(rotate_waiters_);
      closing = closing_ && queue_.empty();
      group_in_progress_ = true;
    }
    if (!batch.empty()) ProcessBatch(batch);
    batch.clear();  // keeps capacity: the next swap hands it back to queue_
    if (unsynced_ && options_.sync_policy == SyncPolicy::kInterval &&
        Clock::now() >= sync_deadline_) {
      SyncActive().IgnoreError("a failure fail-stops; later appends see it");
    }
    for (auto* r : rotations) {
      Status s = failed() ? FailureStatus() : Status::OK();
      // An empty active segment already starts at last_lsn()+1.
      if (s.ok() && writer_->file_size() > kSegmentHeaderSize) s = RotateActive();
      r->set_value(s);
    }
    rotations.clear();
    if (closing) break;  // keeps the token: nothing is written after Close
    std::lock_guard<std::mutex> l(mu_);
    group_in_progress_ = false;
  }
  Status s = failed() ? FailureStatus() : Status::OK();
  if (s.ok() && unsynced_) s = SyncActive();
  Status c = writer_->Close();
  close_status_ = s.ok() ? c : s;
}

void WalImpl::ProcessBatch(std::vector<Pending>& batch) {
  size_t i = 0;
  while (i < batch.size()) {
    // Cut one group: at least one record, at most max_group_bytes.
    size_t j = i;
    uint64_t bytes = 0;
    size_t valid = 0;
    for (; j < batch.size(); j++) {
      if (batch[j].payload.size() > kMaxRecordPayload) continue;
      uint64_t rec = kRecordHeaderSize + batch[j].payload.size();
      if (valid > 0 && bytes + rec > options_.max_group_bytes) break;
      bytes += rec;
      valid++;
    }
    Status s = failed() ? FailureStatus() : Status::OK();
    if (s.ok() && valid > 0 && writer_->file_size() >= options_.segment_bytes) {
      s = RotateActive();
    }
    if (s.ok() && valid > 0) {
      uint64_t lsn = next_lsn_;
      for (size_t k = i; k < j; k++) {
        if (batch[k].payload.size() > kMaxRecordPayload) continue;
        writer_->AddRecord(lsn, batch[k].payload);
        batch[k].lsn = lsn++;
      }
      s = writer_->WritePending();
      if (s.IsNoSpace() && writer_->DiscardFailedWrite().ok()) {
        // ENOSPC from write(2) (not from fdatasync) loses nothing: the
        // partial group is cut off again, this group's appenders get
        // NoSpace (507) and the log continues when space returns. Nothing
        // was acknowledged, no LSN consumed, no sync attempted.
        log::Warn("wal write refused: no space left on device",
                  {{"error", s.ToString()}, {"records", std::to_string(valid)}});
        ReportGroup(batch, i, j, s);
        i = j;
        continue;
      }
      if (s.ok() && options_.sync_policy == SyncPolicy::kAlways) {
        auto t0 = Clock::now();
        s = writer_->Sync();
        ObserveSync(Clock::now() - t0);
      }
      if (!s.ok()) {
        s = FailStop(s);
      } else {
        next_lsn_ = lsn;
        last_lsn_.store(lsn - 1, std::memory_order_release);
        if (options_.sync_policy == SyncPolicy::kAlways) {
          durable_lsn_.store(lsn - 1, std::memory_order_release);
        } else if (!unsynced_) {
          unsynced_ = true;
          sync_deadline_ = Clock::now() + options_.sync_interval;
        }
        if (preallocator_ && !prealloc_requested_ &&
            writer_->file_size() >= options_.segment_bytes / 4) {
          // Not at Open: a short-lived log (tests, tools) never pays for a
          // zero-filled segment it will not use; a quarter leaves ample time.
          preallocator_->Start();
          prealloc_requested_ = true;
        }
        bytes_written_.fetch_add(bytes, std::memory_order_relaxed);
        groups_.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard<std::mutex> l(segments_mu_);
        segments_.back().last_lsn = lsn - 1;
      }
      if (s.ok() && options_.probe) options_.probe->OnGroupCommit(valid, bytes);
      if (s.ok()) {
        // Records per group, x16 fixed point, EWMA weight 1/8.
        const auto avg = static_cast<int64_t>(group_ewma_x16_.load(std::memory_order_relaxed));
        const auto now = static_cast<int64_t>(16 * valid);
        group_ewma_x16_.store(static_cast<uint64_t>(avg + (now - avg) / 8),
                              std::memory_order_relaxed);
      }
    }
    // Callbacks after the sync, in LSN order, with no lock held.
    ReportGroup(batch, i, j, s);
    i = j;
  }
}

void WalImpl::ReportGroup(std::vector<Pending>& batch, size_t begin, size_t end, const Status& s) {
  for (size_t k = begin; k < end; k++) {
    Pending& p = batch[k];
    if (p.payload.size() > kMaxRecordPayload) {
      p.done(Status::InvalidArgument("wal record of " + std::to_string(p.payload.size()) +
                                     " bytes exceeds the maximum of " +
                                     std::to_string(kMaxRecordPayload)));
    } else if (!s.ok()) {
      p.done(s);
    } else {
      p.done(Lsn(p.lsn));
    }
  }
}

Status WalImpl::SyncActive() {
  if (failed()) return FailureStatus();
  auto t0 = Clock::now();
  Status s = writer_->Sync();
  ObserveSync(Clock::now() - t0);
  if (!s.ok()) return FailStop(s);
  unsynced_ = false;
  durable_lsn_.store(next_lsn_ - 1, std::memory_order_release);
  return Status::OK();
}

Status WalImpl::RotateActive() {
  // A sealed segment is durable in full before its successor exists, so a
  // torn write can only ever be in the newest segment.
  STEMEDB_RETURN_IF_ERROR(SyncActive());
  const std::string name = SegmentFileName(next_lsn_);
  const std::string path = JoinPath(options_.dir, name);
  std::unique_ptr<WritableFile> file;
  if (preallocator_) {
    Status s = preallocator_->TakeAs(path);
    if (!s.ok()) return s;  // not fatal: the active segment is intact
    auto r = env_->ReopenWritableFile(path, 0);
    if (!r) return FailStop(r.error());
    file = std::move(*r);
  } else {
    auto r = env_->NewWritableFile(path);
    if (!r) return r.error();
    file = std::move(*r);
  }
  // The new name must be durable before any record in it is acknowledged.
  Status s = env_->SyncDir(options_.dir);
  if (!s.ok()) return FailStop(s);
  if (writer_->file_size() < options_.segment_bytes) {
    // Sealed early (Rotate): drop the preallocated zeros, which would
    // otherwise be kept on disk and read by the archiver for nothing. Not
    // synced: a crash that brings them back leaves a valid segment.
    writer_->TrimToWritten().IgnoreError("zeros after the last record are a valid end");
  }
  s = writer_->Close();
  if (!s.ok()) return FailStop(s);
  uint64_t prev_last = next_lsn_ - 1;
  writer_ = std::make_unique<LogWriter>(std::move(file));
  writer_->AddSegmentHeader(next_lsn_, prev_last);
  // Written now, synced with the first group (or by SyncActive/Close).
  s = writer_->WritePending();
  if (!s.ok()) return FailStop(s);
  unsynced_ = true;
  if (options_.sync_policy == SyncPolicy::kInterval) sync_deadline_ = Clock::now();
  {
    std::lock_guard<std::mutex> l(segments_mu_);
    segments_.push_back(SegmentInfo{name, next_lsn_, next_lsn_ - 1});
  }
  prealloc_requested_ = false;
  log::Debug("wal segment rotated", {{"segment", name}});
  return Status::OK();
}

Status WalImpl::Rotate() {
  std::promise<Status> done;
  auto future = done.get_future();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closing_) return Status::Unavailable("wal closed");
    rotate_waiters_.push_back(&done);
    cv_.notify_one();
  }
  return future.get();
}

std::vector<std::string> WalImpl::SegmentFiles() const {
  std::lock_guard<std::mutex> l(segments_mu_);
  std::vector<std::string> out;
  out.reserve(segments_.size());
  for (const auto& s : segments_) out.push_back(s.name);
  return out;
}

std::vector<SealedSegment> WalImpl::SealedSegments() const {
  std::lock_guard<std::mutex> l(segments_mu_);
  std::vector<SealedSegment> out;
  for (size_t i = 0; i + 1 < segments_.size(); ++i) {
    out.push_back({segments_[i].name, Lsn(segments_[i].first_lsn), Lsn(segments_[i].last_lsn)});
  }
  return out;
}

void WalImpl::SetArchivedLsn(Lsn archived) {
  uint64_t cur = archived_lsn_.load(std::memory_order_relaxed);
  while (cur < archived.value() &&
         !archived_lsn_.compare_exchange_weak(cur, archived.value(), std::memory_order_release)) {
  }
}

WalStats WalImpl::stats() const {
  WalStats st;
  st.last_lsn = Lsn(last_lsn_.load(std::memory_order_acquire));
  st.durable_lsn = Lsn(durable_lsn_.load(std::memory_order_acquire));
  st.bytes_written = bytes_written_.load(std::memory_order_relaxed);
  st.fsyncs = fsyncs_.load(std::memory_order_relaxed);
  st.groups = groups_.load(std::memory_order_relaxed);
  st.inline_groups = inline_groups_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> l(segments_mu_);
  st.segments = segments_.size();
  return st;
}

Status WalImpl::PurgeObsoleteSegments(Lsn covered, size_t keep_sealed) {
  std::vector<std::string> victims;
  {
    std::lock_guard<std::mutex> l(segments_mu_);
    size_t sealed = segments_.empty() ? 0 : segments_.size() - 1;
    uint64_t limit = covered.value();
    if (options_.hold_unarchived) {
      limit = std::min(limit, archived_lsn_.load(std::memory_order_acquire));
    }
    size_t n = 0;
    while (n < sealed && sealed - n > keep_sealed && segments_[n].last_lsn <= limit) {
      victims.push_back(segments_[n].name);
      n++;
    }
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(n));
  }
  if (victims.empty()) return Status::OK();
  Status result;
  for (const auto& name : victims) {
    Status s = env_->RemoveFile(JoinPath(options_.dir, name));
    if (!s.ok() && result.ok()) result = s;
  }
  Status s = env_->SyncDir(options_.dir);
  if (result.ok()) result = s;
  log::Info("wal segments purged",
            {{"count", std::to_string(victims.size())}, {"through", victims.back()}});
  return result;
}

Status WalImpl::Replay(Lsn from, const std::function<Status(const ReplayedRecord&)>& fn) {
  std::vector<SegmentInfo> segs;
  {
    std::lock_guard<std::mutex> l(segments_mu_);
    segs = segments_;
  }
  uint64_t start = std::max<uint64_t>(from.value(), 1);
  if (!segs.empty() && start < segs.front().first_lsn) {
    // Records the caller has not applied were purged or never reached this
    // directory: replaying would silently skip them.
    return Status::Corruption("wal " + options_.dir + ": replay from lsn " + std::to_string(start) +
                              " requested but the oldest segment " + segs.front().name +
                              " starts at lsn " + std::to_string(segs.front().first_lsn));
  }
  for (const auto& seg : segs) {
    if (seg.last_lsn < start) continue;
    const std::string path = JoinPath(options_.dir, seg.name);
    auto size = env_->GetFileSize(path);
    if (!size) return size.error();
    auto file = env_->NewSequentialFile(path);
    if (!file) return file.error();
    LogReader reader(std::move(*file), seg.name, *size);
    SegmentHeader header;
    Status io;
    if (reader.ReadHeader(&header, &io) != LogReader::Outcome::kRecord) {
      if (!io.ok()) return io;
      return Status::Corruption(path + " offset 0: " + reader.reason());
    }
    uint64_t lsn = 0;
    std::string_view payload;
    LogReader::Outcome o;
    while ((o = reader.Next(&lsn, &payload, &io)) == LogReader::Outcome::kRecord) {
      if (lsn < start) continue;
      STEMEDB_RETURN_IF_ERROR(fn(ReplayedRecord{Lsn(lsn), payload}));
    }
    if (!io.ok()) return io;
    if (o == LogReader::Outcome::kBad) {
      // Open() verified this; the file changed underneath us.
      return Status::Corruption(path + " offset " + std::to_string(reader.bad_offset()) + ": " +
                                reader.reason());
    }
  }
  return Status::OK();
}

Status WalImpl::Close() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return close_status_;
    closed_ = true;
    closing_ = true;
    cv_.notify_one();
  }
  if (writer_thread_.joinable()) writer_thread_.join();
  if (preallocator_) preallocator_->Stop();
  healthy_.store(false, std::memory_order_release);
  lock_.reset();
  return close_status_;
}

}  // namespace stemedb::wal
