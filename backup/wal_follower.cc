#include "backup/wal_follower.h"

#include <algorithm>
#include <future>
#include <memory>

#include "backup/wal_archive.h"
#include "util/logging.h"
#include "util/thread_name.h"
#include "wal/segment_scan.h"

namespace stemedb::backup {

namespace {

using Clock = std::chrono::steady_clock;

// Replicated records a pass has in flight before it waits for them: bounds
// the memory one segment's payloads take.
constexpr size_t kMaxInFlight = 4096;

// The outcome of the replicated records of one batch: the first failure.
// A deterministic NotFound/Conflict is the entry's own outcome (the primary
// got it too and the LSN is consumed), not a failure of replication.
struct Batch {
  std::mutex mu;
  Status first_error;
};

}  // namespace

Result<uint64_t> StoreWriterEpoch(engine::Database* db) {
  auto value = db->GetSystem(engine::SystemTable::kSettings, kWriterEpochSetting);
  if (!value) return value.error();
  if (!*value) return uint64_t{1};
  uint64_t epoch = 0;
  for (char c : **value) {
    if (c < '0' || c > '9' || epoch > (UINT64_MAX - 9) / 10) {
      return Status::Corruption("the store's writer epoch is not a number: " + **value);
    }
    epoch = epoch * 10 + static_cast<uint64_t>(c - '0');
  }
  if (epoch < 1) return Status::Corruption("the store's writer epoch is 0");
  return epoch;
}

engine::SystemWrite WriterEpochWrite(uint64_t epoch) {
  return {engine::SystemTable::kSettings, std::string(kWriterEpochSetting), std::to_string(epoch)};
}

WalFollower::WalFollower(engine::Database* db, WalFollowerOptions options)
    : db_(db),
      options_(std::move(options)),
      env_(options_.env != nullptr ? options_.env : Env::Default()),
      rclone_(options_.rclone),
      caught_up_at_(Clock::now()) {}

WalFollower::~WalFollower() { Stop(); }

Status WalFollower::Start() {
  if (db_ == nullptr || options_.remote.empty() || options_.scratch_dir.empty()) {
    return Status::InvalidArgument(
        "wal follower: a store, a remote and a scratch dir are required");
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = false;
  }
  log::Info("standby: following", {{"remote", WalArchiveRemote(options_.remote)},
                                   {"poll_ms", std::to_string(options_.poll_interval.count())},
                                   {"applied_lsn", std::to_string(db_->applied_lsn().value())}});
  thread_ = std::thread([this] {
    SetThreadName("stemedb-follow");
    Loop();
  });
  return Status::OK();
}

void WalFollower::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool WalFollower::StopRequested() {
  std::lock_guard<std::mutex> l(mu_);
  return stop_;
}

WalFollowerStats WalFollower::stats() const {
  std::lock_guard<std::mutex> l(stats_mu_);
  WalFollowerStats s = stats_;
  if (s.archive_lsn > s.applied_lsn || !s.last_error.empty()) {
    s.lag_seconds = std::chrono::duration<double>(Clock::now() - caught_up_at_).count();
  }
  return s;
}

void WalFollower::RecordFailure(const Status& s) {
  std::lock_guard<std::mutex> l(stats_mu_);
  stats_.failures++;
  auto first_line = [](const std::string& m) { return m.substr(0, m.find('\n')); };
  if (first_line(stats_.last_error) != first_line(s.ToString())) {
    log::Error("standby: following the archive failed, retrying", {{"error", s.ToString()}});
  }
  stats_.last_error = s.ToString();
}

void WalFollower::Loop() {
  auto backoff = options_.retry_min;
  for (;;) {
    const Status s = Pass(true);
    if (!s.ok() && !StopRequested()) RecordFailure(s);
    const auto wait = s.ok() ? options_.poll_interval : backoff;
    backoff = s.ok() ? options_.retry_min : std::min(backoff * 2, options_.retry_max);
    std::unique_lock<std::mutex> l(mu_);
    if (cv_.wait_for(l, wait, [this] { return stop_; })) break;
  }
}

Status WalFollower::CatchUp() {
  const Status s = Pass(false);
  if (!s.ok()) RecordFailure(s);
  return s;
}

Status WalFollower::Pass(bool stoppable) {
  const auto listed_at = Clock::now();
  auto list = ListArchivedSegments(rclone_, options_.remote);
  if (!list) return list.error().WithContext("listing the archive");
  uint64_t end = 0;
  for (const ArchivedSegment& a : *list) end = std::max(end, a.last_lsn);
  uint64_t applied = db_->wal()->last_lsn().value();
  {
    std::lock_guard<std::mutex> l(stats_mu_);
    stats_.archive_lsn = end;
    stats_.applied_lsn = applied;
    stats_.lag_lsn = end > applied ? end - applied : 0;
  }
  uint64_t prev_last = 0;
  for (const ArchivedSegment& seg : *list) {
    if (seg.last_lsn <= applied) {
      prev_last = seg.last_lsn;
      continue;
    }
    if (seg.first_lsn > applied + 1) {
      return Status::NotFound("the archive " + WalArchiveRemote(options_.remote) +
                              " has no segment holding lsn " + std::to_string(applied + 1) +
                              " (the next is " + seg.name +
                              "): a standby cannot cross a gap; rebuild it from a base backup "
                              "taken after the gap (empty its data dir and restart it)");
    }
    if (stoppable && StopRequested()) return Status::Unavailable("stopping");
    // The header's link to the previous segment is checked only where that
    // segment was in this listing.
    STEMEDB_RETURN_IF_ERROR(ApplySegment(seg, seg.first_lsn == prev_last + 1 ? prev_last : 0));
    applied = db_->wal()->last_lsn().value();
    prev_last = seg.last_lsn;
    // Everything this log holds is in the archive: it may be purged.
    db_->wal()->SetArchivedLsn(Lsn(applied));
    {
      std::lock_guard<std::mutex> l(stats_mu_);
      stats_.applied_lsn = applied;
      stats_.lag_lsn = end > applied ? end - applied : 0;
      stats_.segments++;
    }
    if (options_.on_applied) options_.on_applied(applied);
  }
  std::lock_guard<std::mutex> l(stats_mu_);
  if (applied >= end) caught_up_at_ = listed_at;
  stats_.last_error.clear();
  return Status::OK();
}

Status WalFollower::ApplySegment(const ArchivedSegment& seg, uint64_t prev_last) {
  STEMEDB_RETURN_IF_ERROR(env_->CreateDirs(options_.scratch_dir));
  const std::string local = wal::JoinPath(options_.scratch_dir, seg.name);
  auto batch = std::make_shared<Batch>();
  size_t in_flight = 0;
  // Everything handed over before was applied (drained): the log's end.
  const uint64_t start = db_->wal()->last_lsn().value();
  std::promise<void> last_done;
  std::future<void> waiter;
  // Waits for the records handed over so far (callbacks run in LSN order,
  // so the last one's completion means all are applied).
  auto drain = [&]() -> Status {
    if (in_flight > 0) waiter.wait();
    in_flight = 0;
    std::lock_guard<std::mutex> l(batch->mu);
    return batch->first_error;
  };
  Status s = ReadArchivedSegment(
      rclone_, env_, options_.remote, seg, local, prev_last,
      [&](uint64_t lsn, std::string_view payload) -> Status {
        if (lsn <= start) return Status::OK();  // applied already
        if (in_flight >= kMaxInFlight) STEMEDB_RETURN_IF_ERROR(drain());
        last_done = std::promise<void>();
        waiter = last_done.get_future();
        auto done = std::make_shared<std::promise<void>>(std::move(last_done));
        ++in_flight;
        db_->ReplicateAsync(Lsn(lsn), std::string(payload),
                            [batch, done](Result<engine::CommitInfo> r) {
                              if (!r && r.error().code() != Status::Code::kNotFound &&
                                  r.error().code() != Status::Code::kConflict) {
                                std::lock_guard<std::mutex> l(batch->mu);
                                if (batch->first_error.ok()) batch->first_error = r.error();
                              }
                              done->set_value();
                            });
        return Status::OK();
      });
  const Status d = drain();
  if (s.ok()) s = d;
  (void)env_->RemoveFile(local);
  return s;
}

}  // namespace stemedb::backup
