// Wal::Open: recovery of a WAL directory (the contract is in wal/wal.h, the
// rules in wal/FORMAT.md "Recovery").
#include <algorithm>

#include "util/logging.h"
#include "wal/log_format.h"
#include "wal/segment_scan.h"
#include "wal/wal_impl.h"

namespace stemedb::wal {
namespace {

Status ValidateOptions(const WalOptions& o) {
  if (o.dir.empty()) return Status::InvalidArgument("wal: dir is required");
  if (o.segment_bytes < 4096) return Status::InvalidArgument("wal: segment_bytes must be >= 4096");
  if (o.max_group_bytes == 0) return Status::InvalidArgument("wal: max_group_bytes must be > 0");
  if (o.sync_policy == SyncPolicy::kInterval && o.sync_interval.count() <= 0) {
    return Status::InvalidArgument("wal: sync_interval must be > 0 for the interval policy");
  }
  return Status::OK();
}

std::string Where(const std::string& dir, const SegmentScan& scan, uint64_t offset) {
  return JoinPath(dir, scan.name) + " offset " + std::to_string(offset);
}

}  // namespace

Result<SyncPolicy> ParseSyncPolicy(std::string_view text) {
  if (text == "always") return SyncPolicy::kAlways;
  if (text == "interval") return SyncPolicy::kInterval;
  if (text == "none") return SyncPolicy::kNone;
  return Status::InvalidArgument("wal sync policy must be always, interval or none, not '" +
                                 std::string(text) + "'");
}

Result<std::unique_ptr<Wal>> Wal::Open(const WalOptions& options, RecoveryReport* report) {
  STEMEDB_RETURN_IF_ERROR(ValidateOptions(options));
  Env* env = options.env ? options.env : Env::Default();
  RecoveryReport local;
  if (report == nullptr) report = &local;
  *report = RecoveryReport();
  const std::string& dir = options.dir;

  STEMEDB_RETURN_IF_ERROR(env->CreateDirs(dir));
  auto lock = env->LockFile(JoinPath(dir, std::string(kLockFileName)));
  if (!lock) return lock.error();
  const std::string prealloc = JoinPath(dir, std::string(kPreallocFileName));
  if (env->FileExists(prealloc)) {
    // May be half-filled by a crashed preallocator; it is cheap to redo.
    STEMEDB_RETURN_IF_ERROR(env->RemoveFile(prealloc));
  }
  auto names = ListSegments(env, dir);
  if (!names) return names.error();

  std::vector<SegmentInfo> segs;
  uint64_t min_next = 1;  // a removed newest segment's name still claims its LSNs
  uint64_t tail_end = 0;  // valid_end of the newest kept segment
  for (size_t i = 0; i < names->size(); i++) {
    const bool newest = i + 1 == names->size();
    SegmentScan scan;
    STEMEDB_RETURN_IF_ERROR(ScanSegment(env, dir, (*names)[i], &scan));
    if (scan.damaged && !newest) {
      return Status::Corruption(Where(dir, scan, scan.bad_offset) + ": " + scan.reason +
                                " (sealed segment; run `stemectl wal verify`)");
    }
    if (scan.header_ok && !segs.empty()) {
      const SegmentInfo& prev = segs.back();
      if (scan.header.prev_last_lsn != prev.last_lsn || scan.name_lsn <= prev.last_lsn) {
        return Status::Corruption(Where(dir, scan, 0) + ": segment follows lsn " +
                                  std::to_string(scan.header.prev_last_lsn) + " but " + prev.name +
                                  " ends at lsn " + std::to_string(prev.last_lsn) +
                                  " (a segment is missing or was truncated)");
      }
    }
    if (scan.damaged) {
      // Newest segment: a torn or corrupt tail. Keep the bytes, cut the log.
      STEMEDB_RETURN_IF_ERROR(CutTornTail(env, dir, scan));
      report->truncated_tail = true;
      report->truncated_file = scan.name;
      report->truncated_offset = scan.valid_end;
      report->truncated_bytes = scan.nonzero_end - scan.valid_end;
      if (!scan.header_ok) {
        // Crashed between creating the segment and writing its header: it
        // held no record and CutTornTail removed it. The previous segment
        // becomes the newest; its name still reserves the LSNs.
        min_next = std::max(min_next, scan.name_lsn);
        continue;
      }
    }
    segs.push_back(SegmentInfo{scan.name, scan.name_lsn, scan.last_lsn});
    tail_end = scan.valid_end;
    if (scan.records > 0) {
      if (report->first_lsn == Lsn(0)) report->first_lsn = Lsn(scan.name_lsn);
      report->last_lsn = Lsn(scan.last_lsn);
    }
  }

  uint64_t next = std::max({min_next, options.next_lsn_floor.value(), uint64_t{1}});
  if (!segs.empty()) next = std::max(next, segs.back().last_lsn + 1);

  std::unique_ptr<LogWriter> writer;
  if (!segs.empty() && segs.back().last_lsn + 1 == next) {
    auto file = env->ReopenWritableFile(JoinPath(dir, segs.back().name), tail_end);
    if (!file) return file.error();
    writer = std::make_unique<LogWriter>(std::move(*file));
    // Makes a truncation above durable before anything is appended after it.
    STEMEDB_RETURN_IF_ERROR(writer->Sync());
  } else {
    if (!segs.empty() && segs.back().last_lsn < segs.back().first_lsn) {
      // An empty newest segment below next_lsn_floor: its name would be wrong.
      STEMEDB_RETURN_IF_ERROR(env->RemoveFile(JoinPath(dir, segs.back().name)));
      segs.pop_back();
    }
    const uint64_t prev_last = segs.empty() ? next - 1 : segs.back().last_lsn;
    const std::string name = SegmentFileName(next);
    auto file = env->NewWritableFile(JoinPath(dir, name));
    if (!file) return file.error();
    writer = std::make_unique<LogWriter>(std::move(*file));
    writer->AddSegmentHeader(next, prev_last);
    STEMEDB_RETURN_IF_ERROR(writer->WritePending());
    STEMEDB_RETURN_IF_ERROR(writer->Sync());
    STEMEDB_RETURN_IF_ERROR(env->SyncDir(dir));
    segs.push_back(SegmentInfo{name, next, next - 1});
  }
  report->segments = segs.size();
  if (report->truncated_tail) {
    log::Info("wal recovered", {{"dir", dir},
                                {"segments", std::to_string(segs.size())},
                                {"last_lsn", std::to_string(report->last_lsn.value())}});
  }
  return std::unique_ptr<Wal>(
      new WalImpl(options, env, std::move(*lock), std::move(segs), std::move(writer), next));
}

}  // namespace stemedb::wal
