// WalImpl: the Wal behind wal/wal.h. Internal to wal/; everyone else sees Wal.
//
// Threads:
//   callers      AppendAsync pushes onto queue_ under mu_ (no I/O, no LSN);
//                with inline_commit, a caller that finds the log idle writes
//                its own record instead (see below).
//   writer       swaps queue_ out whole, cuts it into groups of at most
//                max_group_bytes, and per group: assigns LSNs, one write(2),
//                one fdatasync (kAlways), then the callbacks in LSN order.
//
// Writer state (writer_, next_lsn_, the active segment, rotation) belongs to
// whoever holds the *group token*: group_in_progress_, set under mu_ by the
// writer thread when it takes the queue, or by an inline committer that
// found the queue empty and the token free. So at most one group is written
// at a time, and groups (and their callbacks) stay in LSN order.
//   preallocator zero-fills the next segment (wal/preallocator.h), asked to
//                start once the active segment is a quarter full.
//   owner        Replay, Rotate (handed to the writer), Purge, Close.
//
// Locks: mu_ guards the queue, rotation requests and the failure state;
// segments_mu_ guards segments_ (the writer appends at rotation, Purge erases
// from the front). Neither is held across a write or a sync.
#pragma once

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wal/log_writer.h"
#include "wal/preallocator.h"
#include "wal/wal.h"

namespace stemedb::wal {

// One segment as known to an open Wal.
struct SegmentInfo {
  std::string name;
  uint64_t first_lsn = 0;
  uint64_t last_lsn = 0;  // first_lsn - 1 while it holds no record
};

class WalImpl final : public Wal {
 public:
  // `segments` ends with the active segment, which `active` writes (its
  // header already written). `next_lsn` is the LSN the next record gets.
  WalImpl(const WalOptions& options, Env* env, std::unique_ptr<FileLock> lock,
          std::vector<SegmentInfo> segments, std::unique_ptr<LogWriter> active, uint64_t next_lsn);
  ~WalImpl() override;

  Status Replay(Lsn from, const std::function<Status(const ReplayedRecord&)>& fn) override;
  void AppendAsync(std::string payload, AppendCallback done,
                   AppendHint hint = AppendHint::kNone) override;
  Result<Lsn> Append(std::string payload) override;
  Lsn last_lsn() const override { return Lsn(last_lsn_.load(std::memory_order_acquire)); }
  bool healthy() const override { return healthy_.load(std::memory_order_acquire); }
  Status failure() const override;
  WalStats stats() const override;
  Status Rotate() override;
  std::vector<std::string> SegmentFiles() const override;
  std::vector<SealedSegment> SealedSegments() const override;
  void SetArchivedLsn(Lsn archived) override;
  Status PurgeObsoleteSegments(Lsn covered, size_t keep_sealed) override;
  Status Close() override;

 private:
  struct Pending {
    std::string payload;
    AppendCallback done;
    uint64_t lsn = 0;  // assigned by the writer; 0 = not written
  };

  void WriterLoop();
  // With the token taken by this caller: writes `pending` as a group of one
  // and completes it, then hands the token back (waking the writer if work
  // queued up meanwhile).
  void CommitInline(Pending pending);
  // True while inline commits pay off (see the .cc).
  bool InlineCommitPays() const;
  // Records one fdatasync's latency (metrics probe and the inline gate).
  void ObserveSync(std::chrono::steady_clock::duration d);
  // Writes the whole batch, group by group, and completes every callback.
  void ProcessBatch(std::vector<Pending>& batch);
  // Calls done() of batch[begin, end) with their LSN, or with `s` if not ok.
  void ReportGroup(std::vector<Pending>& batch, size_t begin, size_t end, const Status& s);
  // Seals the active segment and starts the next at next_lsn_. A failure to
  // obtain the new file is returned without fail-stopping; a failed sync of
  // the old one or of the directory fail-stops.
  Status RotateActive();
  // Syncs the active segment (kInterval timer, Close); fail-stops on error.
  Status SyncActive();
  // Enters the failed state (once) and returns the Status appends now get.
  Status FailStop(const Status& cause);
  bool failed() const { return !failure_cache_ok_.load(std::memory_order_acquire); }
  Status FailureStatus();

  const WalOptions options_;
  Env* const env_;
  std::unique_ptr<FileLock> lock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> queue_;
  std::vector<std::promise<Status>*> rotate_waiters_;
  bool group_in_progress_ = false;  // the group token (see above)
  bool closing_ = false;
  bool closed_ = false;
  Status failure_;

  mutable std::mutex segments_mu_;
  std::vector<SegmentInfo> segments_;

  // Holder of the group token only.
  std::unique_ptr<LogWriter> writer_;
  uint64_t next_lsn_;
  const bool inline_commit_;
  const uint64_t inline_max_sync_ns_;
  bool unsynced_ = false;
  std::chrono::steady_clock::time_point sync_deadline_;
  std::unique_ptr<Preallocator> preallocator_;
  bool prealloc_requested_ = false;    // for the segment after the active one
  std::vector<Pending> inline_batch_;  // CommitInline's group of one

  std::atomic<bool> healthy_{true};
  std::atomic<bool> failure_cache_ok_{true};
  std::atomic<uint64_t> last_lsn_{0};
  std::atomic<uint64_t> durable_lsn_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> fsyncs_{0};
  std::atomic<uint64_t> groups_{0};
  std::atomic<uint64_t> inline_groups_{0};
  std::atomic<uint64_t> archived_lsn_{0};  // hold_unarchived only
  // Moving averages of fdatasync latency (ns) and of records per group (x16)
  // for the inline-commit gate (InlineCommitPays).
  std::atomic<uint64_t> sync_ewma_ns_{0};
  std::atomic<uint64_t> group_ewma_x16_{16};
  static constexpr uint64_t kInlineMaxGroupX16 = 24;  // 1.5 records per group
  Status close_status_;

  std::thread writer_thread_;
};

}  // namespace stemedb::wal
