// LogReader: reads one segment file and tells apart exactly three outcomes
// (STYLE §7.4): a record, a clean end, or a bad spot with its offset and
// reason. Whether a bad spot is a torn tail (newest segment: truncated) or
// corruption (sealed segment: refuse to start) is the caller's decision.
//
// A clean end is either end of file at a record boundary or the start of the
// zero-filled preallocated tail (a record header of all zeros). In the second
// case the caller may ask whether everything after it is zero too
// (ScanTail): non-zero bytes there mean a write was torn.
//
// Lengths are bounded by kMaxRecordPayload and by the file size before any
// byte of the payload is buffered, so a corrupt length cannot make the reader
// allocate gigabytes.
//
// Thread-safety: none; one owner.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/env.h"
#include "util/status.h"

namespace stemedb::wal {

struct SegmentHeader {
  uint64_t first_lsn = 0;
  uint64_t prev_last_lsn = 0;
};

class LogReader {
 public:
  enum class Outcome { kRecord, kEnd, kBad };

  // `name` is used in messages only; `file_size` bounds every length.
  LogReader(std::unique_ptr<SequentialFile> file, std::string name, uint64_t file_size);

  // Reads and checks the 32-byte segment header. Returns kBad (with reason and
  // bad_offset() == 0) if it is short, zero, or fails magic/version/CRC;
  // an IO error is returned through *io.
  Outcome ReadHeader(SegmentHeader* header, Status* io);

  // Reads the next record. kRecord: *lsn and *payload are set (payload valid
  // until the next call). kEnd: clean end. kBad: see reason()/bad_offset().
  // REQUIRES: ReadHeader succeeded.
  // Record LSNs must be consecutive starting at the header's first_lsn.
  Outcome Next(uint64_t* lsn, std::string_view* payload, Status* io);

  // Offset just past the last valid record (or the header).
  uint64_t valid_end() const { return valid_end_; }
  uint64_t bad_offset() const { return bad_offset_; }
  const std::string& reason() const { return reason_; }
  // True if Next returned kEnd at a zero record header (not at EOF).
  bool at_zero_header() const { return at_zero_header_; }

  // Scans from valid_end() to EOF and sets *nonzero_end to the offset just
  // past the last non-zero byte (== valid_end() if all zero). Consumes the file.
  Status ScanTail(uint64_t* nonzero_end);

 private:
  // Makes at least n bytes available at pos_ unless EOF comes first; returns
  // the number available.
  Result<size_t> Fill(size_t n);
  Outcome Bad(uint64_t offset, std::string reason);

  std::unique_ptr<SequentialFile> file_;
  std::string name_;
  uint64_t file_size_;
  std::string buf_;
  size_t pos_ = 0;           // next unread byte in buf_
  size_t end_ = 0;           // bytes of buf_ holding data
  uint64_t buf_offset_ = 0;  // file offset of buf_[0]
  bool eof_ = false;
  uint64_t expected_lsn_ = 0;
  uint64_t valid_end_ = 0;
  uint64_t bad_offset_ = 0;
  bool at_zero_header_ = false;
  std::string reason_;
};

}  // namespace stemedb::wal
