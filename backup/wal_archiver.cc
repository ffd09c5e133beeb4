#include "backup/wal_archiver.h"

#include <algorithm>

#include "backup/sha256.h"
#include "backup/wal_archive.h"
#include "util/logging.h"
#include "util/thread_name.h"
#include "wal/segment_scan.h"

namespace stemedb::backup {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kChunkBytes = 1 << 20;
constexpr size_t kMaxSamples = 4096;

// Removes an abandoned upload. Failure is logged only: a *.partial never
// counts as archived, and the next attempt overwrites it.
void RemoveQuietly(Rclone& rclone, const std::string& remote) {
  Status s = rclone.DeleteFile(remote);
  if (!s.ok() && s.message().find("not found") == std::string::npos) {
    log::Warn("wal archive: cannot remove leftover object",
              {{"remote", remote}, {"error", s.message()}});
  }
}

}  // namespace

std::vector<std::string> DefaultArchiverRcloneArgs() {
  return {"--retries", "1", "--low-level-retries", "3", "--contimeout", "10s", "--timeout", "30s"};
}

WalArchiver::WalArchiver(wal::Wal* wal, WalArchiverOptions options)
    : wal_(wal),
      options_(std::move(options)),
      env_(options_.env != nullptr ? options_.env : Env::Default()),
      rclone_(options_.rclone) {}

WalArchiver::~WalArchiver() { Stop(); }

Status WalArchiver::Start() {
  if (wal_ == nullptr || options_.remote.empty() || options_.wal_dir.empty()) {
    return Status::InvalidArgument("wal archiver: a log, a remote and the WAL dir are required");
  }
  if (options_.interval.count() <= 0) {
    return Status::InvalidArgument("wal archiver: the interval must be positive");
  }
  log::Info("wal archive: archiving", {{"remote", WalArchiveRemote(options_.remote)},
                                       {"interval_ms", std::to_string(options_.interval.count())}});
  thread_ = std::thread([this] {
    SetThreadName("stemedb-archive");
    Loop();
  });
  return Status::OK();
}

void WalArchiver::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

WalArchiverStats WalArchiver::stats() const {
  std::lock_guard<std::mutex> l(stats_mu_);
  WalArchiverStats s = stats_;
  // Aged at read time: while an upload blocks or backs off, a scrape still
  // sees the lag grow instead of the value of the last pass.
  if (!samples_.empty() && samples_.front().lsn > s.archived_lsn) {
    s.lag_seconds = std::chrono::duration<double>(Clock::now() - samples_.front().when).count();
  }
  return s;
}

void WalArchiver::Loop() {
  // A tick well below the interval, so a record waits at most interval + tick.
  const auto tick = std::clamp<std::chrono::milliseconds>(
      options_.interval / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
  auto backoff = options_.retry_min;
  for (;;) {
    const bool ok = Pass(false);
    const auto wait = ok ? tick : backoff;
    backoff = ok ? options_.retry_min : std::min(backoff * 2, options_.retry_max);
    std::unique_lock<std::mutex> l(mu_);
    if (cv_.wait_for(l, wait, [this] { return stop_; })) break;
  }
  if (!Pass(true)) {
    const WalArchiverStats s = stats();
    log::Warn("wal archive: stopped with records not archived",
              {{"archived_lsn", std::to_string(s.archived_lsn)},
               {"last_lsn", std::to_string(s.durable_lsn)},
               {"error", s.last_error}});
  }
}

bool WalArchiver::StopRequested() {
  std::lock_guard<std::mutex> l(mu_);
  return stop_;
}

void WalArchiver::RecordFailure(const Status& s) {
  std::lock_guard<std::mutex> l(stats_mu_);
  stats_.failures++;
  // Logged when the reason changes (its first line: rclone's stderr below it
  // carries timestamps), so a dead remote does not flood the log.
  auto first_line = [](const std::string& m) { return m.substr(0, m.find('\n')); };
  if (first_line(stats_.last_error) != first_line(s.ToString())) {
    log::Error("wal archive: failed, retrying (segments stay on the local disk)",
               {{"error", s.ToString()}});
  }
  stats_.last_error = s.ToString();
}

void WalArchiver::UpdateLag(Clock::time_point now) {
  std::lock_guard<std::mutex> l(stats_mu_);
  while (!samples_.empty() && samples_.front().lsn <= stats_.archived_lsn) samples_.pop_front();
  stats_.lag_seconds =
      samples_.empty() ? 0 : std::chrono::duration<double>(now - samples_.front().when).count();
  uint64_t bytes = 0;
  for (const wal::SealedSegment& seg : wal_->SealedSegments()) {
    if (seg.last_lsn.value() <= stats_.archived_lsn) continue;
    auto size = env_->GetFileSize(wal::JoinPath(options_.wal_dir, seg.name));
    if (size) bytes += *size;
  }
  // The active segment's records (its file may be preallocated zeros).
  const std::vector<std::string> files = wal_->SegmentFiles();
  if (!files.empty() && stats_.durable_lsn > stats_.archived_lsn) {
    auto size = env_->GetFileSize(wal::JoinPath(options_.wal_dir, files.back()));
    const uint64_t written = wal_->stats().bytes_written;
    if (size) bytes += std::min(*size, written);
  }
  stats_.lag_bytes = bytes;
}

Status WalArchiver::LoadArchiveEnd() {
  auto list = ListArchivedSegments(rclone_, options_.remote);
  if (!list) return list.error().WithContext("listing the archive");
  uint64_t end = 0;
  for (const ArchivedSegment& a : *list) {
    if (a.last_lsn >= end) {
      end = a.last_lsn;
      archive_last_first_ = a.first_lsn;
    }
  }
  const uint64_t last = wal_->last_lsn().value();
  if (end > last) {
    return Status::Conflict("the archive " + WalArchiveRemote(options_.remote) + " ends at lsn " +
                            std::to_string(end) + ", beyond this store's lsn " +
                            std::to_string(last) +
                            ": it holds another history (a store restored to an earlier point?); "
                            "not writing there: point STEMEDB_ARCHIVE_REMOTE at a new path");
  }
  {
    std::lock_guard<std::mutex> l(stats_mu_);
    stats_.archived_lsn = end;
  }
  wal_->SetArchivedLsn(Lsn(end));
  archive_end_known_ = true;
  log::Info("wal archive: the archive ends at", {{"lsn", std::to_string(end)}});
  return Status::OK();
}

Result<bool> WalArchiver::CheckFence() {
  if (fenced_) return false;
  last_fence_check_ = Clock::now();
  auto highest = HighestWriterEpoch(rclone_, options_.remote);
  if (!highest) return highest.error();
  if (*highest <= options_.epoch) return true;
  fenced_ = true;
  const Status reason = Status::Failed(
      "fenced off: writer epoch " + std::to_string(*highest) + " owns the archive " +
      options_.remote + " (a standby was promoted); this server's epoch is " +
      std::to_string(options_.epoch) + ", so it never uploads again and refuses writes");
  log::Error("wal archive: " + reason.message());
  {
    std::lock_guard<std::mutex> l(stats_mu_);
    stats_.fenced = true;
    stats_.last_error = reason.ToString();
  }
  if (options_.on_fenced) options_.on_fenced(reason);
  return false;
}

bool WalArchiver::Pass(bool final_pass) {
  const auto now = Clock::now();
  const uint64_t last = wal_->last_lsn().value();
  {
    std::lock_guard<std::mutex> l(stats_mu_);
    stats_.durable_lsn = last;
    if (samples_.empty() || samples_.back().lsn < last) samples_.push_back({last, now});
    // Bounded while the remote is down for long: the oldest sample (the lag)
    // stays; the ones after it thin out, which only makes sealing later.
    if (samples_.size() > kMaxSamples) samples_.erase(samples_.begin() + 1);
  }
  if (fenced_) {
    UpdateLag(now);
    return true;  // nothing to retry: a restart (or a new path) is the way out
  }
  if (!archive_end_known_ || now - last_fence_check_ >= options_.fence_check_interval) {
    auto unfenced = CheckFence();
    if (!unfenced) {
      RecordFailure(unfenced.error());
      UpdateLag(now);
      return false;
    }
    if (!*unfenced) {
      UpdateLag(now);
      return true;
    }
  }
  bool ok = true;
  if (!archive_end_known_) {
    Status s = LoadArchiveEnd();
    if (!s.ok()) {
      RecordFailure(s);
      ok = false;
    }
  }
  // Upload what is sealed, then seal the active segment if due, then upload
  // that too (at most once per pass).
  for (int round = 0; ok && round < 2; ++round) {
    uint64_t archived = stats().archived_lsn;
    uint64_t sealed_through = archived;
    for (const wal::SealedSegment& seg : wal_->SealedSegments()) {
      sealed_through = std::max(sealed_through, seg.last_lsn.value());
      if (seg.last_lsn.value() <= archived) continue;  // archived, or holds no record
      // Between two segments: a Stop() waits for one upload, not a backlog;
      // the last pass has a budget of its own.
      if (final_pass ? Clock::now() - now > options_.final_pass_budget : StopRequested()) {
        ok = false;
        break;
      }
      Status s;
      if (seg.first_lsn.value() <= archived && seg.first_lsn.value() != archive_last_first_) {
        s = Status::Conflict(
            "local segment " + seg.name + " (lsn " + std::to_string(seg.first_lsn.value()) + ".." +
            std::to_string(seg.last_lsn.value()) + ") overlaps the archive, which " +
            "ends at lsn " + std::to_string(archived) +
            ": it holds another history; not writing there");
      } else {
        if (archived > 0 && seg.first_lsn.value() > archived + 1 && gap_reported_at_ != archived) {
          gap_reported_at_ = archived;
          log::Error(
              "wal archive: gap, the archive ends before this segment starts; a restore "
              "across it needs a base backup taken after it",
              {{"archived_through", std::to_string(archived)}, {"segment", seg.name}});
          std::lock_guard<std::mutex> l(stats_mu_);
          stats_.gaps++;
        }
        // Checked before every upload: the window in which a promoted
        // standby and this server both write is one upload long.
        auto unfenced = CheckFence();
        if (!unfenced) {
          s = unfenced.error();
        } else if (!*unfenced) {
          ok = false;
          break;
        } else {
          s = UploadSegment(seg);
        }
      }
      if (!s.ok()) {
        RecordFailure(s);
        ok = false;
        break;
      }
      archived = seg.last_lsn.value();
      archive_last_first_ = seg.first_lsn.value();
      wal_->SetArchivedLsn(seg.last_lsn);
    }
    if (!ok || round == 1) break;
    // The active segment holds records above sealed_through: seal it once the
    // oldest of them has waited `interval` (or now, on the last pass).
    const uint64_t current = wal_->last_lsn().value();
    if (current <= sealed_through) break;
    Clock::time_point oldest = now;
    {
      std::lock_guard<std::mutex> l(stats_mu_);
      for (const Sample& s : samples_) {
        if (s.lsn > sealed_through) {
          oldest = s.when;
          break;
        }
      }
    }
    if (!final_pass && now - oldest < options_.interval) break;
    Status s = wal_->Rotate();
    if (!s.ok()) {
      RecordFailure(s.WithContext("sealing the active segment"));
      ok = false;
    }
  }
  UpdateLag(Clock::now());
  return ok;
}

Status WalArchiver::UploadSegment(const wal::SealedSegment& seg) {
  wal::SegmentScan scan;
  STEMEDB_RETURN_IF_ERROR(wal::ScanSegment(env_, options_.wal_dir, seg.name, &scan));
  if (!scan.header_ok || scan.last_lsn != seg.last_lsn.value() ||
      scan.header.first_lsn != seg.first_lsn.value()) {
    // Sealed segments are immutable and were verified at open: it changed.
    return Status::Corruption(wal::JoinPath(options_.wal_dir, seg.name) + ": holds lsn " +
                              std::to_string(scan.name_lsn) + ".." + std::to_string(scan.last_lsn) +
                              ", the log says " + std::to_string(seg.first_lsn.value()) + ".." +
                              std::to_string(seg.last_lsn.value()) +
                              (scan.damaged ? " (" + scan.reason + ")" : ""));
  }
  const uint64_t size = scan.valid_end;
  const std::string name =
      ArchivedSegmentName(seg.first_lsn.value(), seg.last_lsn.value(), options_.epoch);
  const std::string dir = WalArchiveRemote(options_.remote);
  const std::string object = JoinRemote(dir, name);
  const std::string partial = object + ".partial";
  const std::string sidecar = object + ".sha256";
  const std::string path = wal::JoinPath(options_.wal_dir, seg.name);

  // 1. Upload the bytes up to the last record, hashing them.
  Sha256 sent;
  Status s = rclone_.Rcat(partial, [&](const ChunkSink& sink) -> Status {
    auto file = env_->NewSequentialFile(path);
    if (!file) return file.error();
    std::string scratch(kChunkBytes, '\0');
    for (uint64_t left = size; left > 0;) {
      std::string_view chunk;
      STEMEDB_RETURN_IF_ERROR(
          (*file)->Read(std::min<uint64_t>(left, kChunkBytes), &chunk, scratch.data()));
      if (chunk.empty()) return Status::Corruption(path + ": shorter than its scan");
      sent.Update(chunk);
      STEMEDB_RETURN_IF_ERROR(sink(chunk));
      left -= chunk.size();
    }
    return Status::OK();
  });
  const std::string sent_hex = s.ok() ? sent.FinalHex() : "";
  // 2. Read back what the remote stored.
  if (s.ok()) {
    Sha256 stored;
    uint64_t stored_bytes = 0;
    s = rclone_.Cat(partial, [&](const ArchiveSource& source) -> Status {
      std::string buf(kChunkBytes, '\0');
      for (;;) {
        auto n = source(buf.data(), buf.size());
        if (!n) return n.error();
        if (*n == 0) return Status::OK();
        stored.Update(std::string_view(buf.data(), *n));
        stored_bytes += *n;
      }
    });
    if (s.ok()) {
      const std::string stored_hex = stored.FinalHex();
      if (stored_bytes != size || stored_hex != sent_hex) {
        s = Status::Corruption(partial + " holds " + std::to_string(stored_bytes) +
                               " bytes with SHA-256 " + stored_hex + ", sent " +
                               std::to_string(size) + " with " + sent_hex);
      }
    }
  }
  // 3. Sidecar, then the final name.
  if (s.ok()) s = rclone_.RcatString(sidecar, sent_hex + "  " + name + "\n");
  if (s.ok()) s = rclone_.MoveTo(partial, object);
  if (!s.ok()) {
    RemoveQuietly(rclone_, partial);
    return s.WithContext("archiving " + seg.name);
  }
  {
    std::lock_guard<std::mutex> l(stats_mu_);
    stats_.archived_lsn = seg.last_lsn.value();
    stats_.segments++;
    stats_.bytes += size;
    stats_.last_error.clear();
  }
  log::Debug("wal archive: uploaded", {{"object", object}, {"bytes", std::to_string(size)}});
  return Status::OK();
}

}  // namespace stemedb::backup
