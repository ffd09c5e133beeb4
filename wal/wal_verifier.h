// Read-only verification and torn-tail repair of a WAL directory, behind
// `stemectl wal verify|repair`. Both run the same segment scan as Wal::Open
// (wal/segment_scan.h), so "verify says OK" means "the server will start
// without cutting anything", and "repair" does exactly the truncation the
// server would do at startup (etcd's wal.Repair, returning a reason).
#pragma once

#include <cstdint>
#include <string>

#include "util/env.h"
#include "util/status.h"
#include "util/strong_types.h"

namespace stemedb::wal {

struct WalVerifyReport {
  size_t segments = 0;
  uint64_t records = 0;  // valid records, up to the first bad one
  Lsn first_lsn;         // lowest LSN present (0 if none)
  Lsn last_lsn;          // highest valid LSN before any damage (0 if none)
  // The first bad spot, if any.
  bool damaged = false;
  std::string bad_file;  // segment name
  uint64_t bad_offset = 0;
  std::string bad_reason;
  // True iff the damage is the tail of the newest segment: startup (or
  // RepairWalDir) truncates it; otherwise startup refuses (startup guard 7, docs/configuration.md).
  bool repairable = false;
  // Set by RepairWalDir.
  bool repaired = false;
  uint64_t truncated_offset = 0;   // new end of bad_file
  uint64_t bytes_moved_aside = 0;  // into <bad_file>.broken
};

// Checks every segment without modifying anything (takes no lock, so it may
// run next to a live server; it then sees the active segment mid-write).
// Returns OK if the log is clean, Corruption "<file> offset <n>: <reason>"
// for the first bad spot (see report->repairable), IOError if unreadable.
Status VerifyWalDir(const std::string& dir, WalVerifyReport* report);
Status VerifyWalDir(Env* env, const std::string& dir, WalVerifyReport* report);

// Verifies, then truncates a torn tail of the newest segment (bytes kept in
// <segment>.broken). Never touches a sealed segment: corruption there is
// returned as by VerifyWalDir and nothing is changed. Takes the WAL lock:
// Busy if a server has the directory open. OK if the log is now clean.
Status RepairWalDir(const std::string& dir, WalVerifyReport* report);
Status RepairWalDir(Env* env, const std::string& dir, WalVerifyReport* report);

}  // namespace stemedb::wal
