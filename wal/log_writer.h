// LogWriter: encodes segment headers and records (wal/log_format.h) into an
// in-memory group buffer and hands each group to the file with one Append,
// i.e. one write(2). Used only by the Wal writer thread.
//
// Thread-safety: none; one owner. After any error from WritePending or Sync
// the writer must not be used again (the Wal fail-stops).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/env.h"
#include "util/status.h"

namespace stemedb::wal {

class LogWriter {
 public:
  // `file` is positioned where the next byte goes (a fresh segment at 0, or
  // a recovered one at the end of its last valid record).
  explicit LogWriter(std::unique_ptr<WritableFile> file);
  ~LogWriter();

  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Queue bytes in the group buffer; nothing reaches the file until
  // WritePending(). REQUIRES (AddRecord): payload.size() <= kMaxRecordPayload.
  void AddSegmentHeader(uint64_t first_lsn, uint64_t prev_last_lsn);
  void AddRecord(uint64_t lsn, std::string_view payload);

  // Bytes queued and not yet written.
  size_t pending_bytes() const { return buf_.size(); }
  // Writes the queued bytes (one Append + Flush) and clears the buffer, also
  // on error. The buffer keeps its capacity, so steady state allocates nothing.
  Status WritePending();
  // After WritePending failed with NoSpace: cuts the file back to the last
  // complete write (file_size()), removing any part of the failed one, so
  // the segment stays a clean sequence of records and the log can go on
  // once space returns. An error here means the segment's tail is unknown.
  Status DiscardFailedWrite();
  // Cuts the file to file_size(): removes a preallocated zero tail from a
  // segment sealed before it was full. Not synced.
  Status TrimToWritten();
  // fdatasync of everything written so far.
  Status Sync();
  // Flushes and closes the file; does not sync.
  Status Close();

  // Bytes in the segment file, written ones only (not the pending buffer).
  uint64_t file_size() const { return written_; }

  // Encoders, shared with tests that forge segments byte by byte.
  static void EncodeSegmentHeader(uint64_t first_lsn, uint64_t prev_last_lsn, std::string* dst);
  static void EncodeRecord(uint64_t lsn, uint8_t type, std::string_view payload, std::string* dst);

 private:
  std::unique_ptr<WritableFile> file_;
  std::string buf_;
  uint64_t written_;
};

}  // namespace stemedb::wal
