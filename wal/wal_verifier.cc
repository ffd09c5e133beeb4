#include "wal/wal_verifier.h"

#include <vector>

#include "wal/log_format.h"
#include "wal/segment_scan.h"

namespace stemedb::wal {
namespace {

// Scans the directory into *report; *tail gets the scan of the damaged
// newest segment when the only damage is there.
Status Scan(Env* env, const std::string& dir, WalVerifyReport* report, SegmentScan* tail) {
  *report = WalVerifyReport();
  auto names = ListSegments(env, dir);
  if (!names) return names.error();
  report->segments = names->size();
  uint64_t prev_last = 0;
  for (size_t i = 0; i < names->size(); i++) {
    const bool newest = i + 1 == names->size();
    SegmentScan scan;
    STEMEDB_RETURN_IF_ERROR(ScanSegment(env, dir, (*names)[i], &scan));
    std::string reason = scan.reason;
    uint64_t offset = scan.bad_offset;
    bool chain_broken = false;
    if (scan.header_ok && i > 0 &&
        (scan.header.prev_last_lsn != prev_last || scan.name_lsn <= prev_last)) {
      chain_broken = true;
      offset = 0;
      reason = "segment follows lsn " + std::to_string(scan.header.prev_last_lsn) +
               " but the previous segment ends at lsn " + std::to_string(prev_last) +
               " (a segment is missing or was truncated)";
    }
    if (!chain_broken) {
      report->records += scan.records;
      if (scan.records > 0) {
        if (report->first_lsn == Lsn(0)) report->first_lsn = Lsn(scan.name_lsn);
        report->last_lsn = Lsn(scan.last_lsn);
      }
    }
    if (chain_broken || scan.damaged) {
      report->damaged = true;
      report->bad_file = scan.name;
      report->bad_offset = offset;
      report->bad_reason = reason;
      report->repairable = newest && !chain_broken;
      if (report->repairable) *tail = scan;
      return Status::Corruption(
          JoinPath(dir, scan.name) + " offset " + std::to_string(offset) + ": " + reason +
          (report->repairable ? " (torn tail of the newest segment)" : " (sealed segment)"));
    }
    prev_last = scan.last_lsn;
  }
  return Status::OK();
}

}  // namespace

Status VerifyWalDir(Env* env, const std::string& dir, WalVerifyReport* report) {
  SegmentScan tail;
  return Scan(env, dir, report, &tail);
}

Status VerifyWalDir(const std::string& dir, WalVerifyReport* report) {
  return VerifyWalDir(Env::Default(), dir, report);
}

Status RepairWalDir(Env* env, const std::string& dir, WalVerifyReport* report) {
  auto lock = env->LockFile(JoinPath(dir, std::string(kLockFileName)));
  if (!lock) return lock.error();
  SegmentScan tail;
  Status s = Scan(env, dir, report, &tail);
  if (s.ok() || !report->repairable) return s;
  STEMEDB_RETURN_IF_ERROR(CutTornTail(env, dir, tail));
  report->repaired = true;
  report->truncated_offset = tail.valid_end;
  report->bytes_moved_aside = tail.nonzero_end - tail.valid_end;
  return Status::OK();
}

Status RepairWalDir(const std::string& dir, WalVerifyReport* report) {
  return RepairWalDir(Env::Default(), dir, report);
}

}  // namespace stemedb::wal
