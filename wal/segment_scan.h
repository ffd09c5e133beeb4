// ScanSegment: reads one whole segment and reports what is in it and where
// (if anywhere) it stops being valid. Shared by Wal::Open (recovery) and
// VerifyWalDir/RepairWalDir, so `stemectl wal verify` judges a directory
// with exactly the code the server starts with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/env.h"
#include "util/status.h"
#include "wal/log_reader.h"

namespace stemedb::wal {

struct SegmentScan {
  std::string name;       // file name, e.g. 0000000000000001.wal
  uint64_t name_lsn = 0;  // first LSN encoded in the name
  bool header_ok = false;
  SegmentHeader header;
  uint64_t records = 0;
  uint64_t last_lsn = 0;  // of the last valid record; name_lsn - 1 if none
  uint64_t file_size = 0;
  uint64_t valid_end = 0;  // offset just past the last valid record
  // Set when the segment does not end cleanly: a bad record, a bad header, or
  // non-zero bytes after the zero-filled tail began.
  bool damaged = false;
  uint64_t bad_offset = 0;
  std::string reason;
  // Offset just past the last non-zero byte at or after valid_end (what a
  // repair must move aside); == valid_end when only zeros follow.
  uint64_t nonzero_end = 0;
};

// Scans dir/name. Damage is reported in *out, not as an error: only I/O
// failures return non-OK.
Status ScanSegment(Env* env, const std::string& dir, const std::string& name, SegmentScan* out);

// Repairs the newest segment described by `scan` (REQUIRES scan.damaged):
// copies bytes [valid_end, nonzero_end) into <segment>.broken (or .broken.N),
// then truncates the segment to valid_end, or removes it if its header was
// never written intact. Logs what it did. Shared by Wal::Open and
// RepairWalDir so both cut exactly the same bytes.
Status CutTornTail(Env* env, const std::string& dir, const SegmentScan& scan);

// Names of the segment files in `dir`, in LSN order (other files ignored).
Result<std::vector<std::string>> ListSegments(Env* env, const std::string& dir);

// "dir/name" with a single slash.
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace stemedb::wal
