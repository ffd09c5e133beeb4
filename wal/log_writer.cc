#include "wal/log_writer.h"

#include <cassert>

#include "util/crc32c.h"
#include "wal/log_format.h"

namespace stemedb::wal {

LogWriter::LogWriter(std::unique_ptr<WritableFile> file)
    : file_(std::move(file)), written_(file_->Size()) {}

LogWriter::~LogWriter() {
  if (file_) Close().IgnoreError("destructor; Wal closes explicitly and checks");
}

void LogWriter::EncodeSegmentHeader(uint64_t first_lsn, uint64_t prev_last_lsn, std::string* dst) {
  char h[kSegmentHeaderSize] = {};
  std::memcpy(h + segment_header::kMagic, kSegmentMagic, sizeof kSegmentMagic);
  EncodeFixed16(h + segment_header::kVersion, kFormatVersion);
  EncodeFixed64(h + segment_header::kFirstLsn, first_lsn);
  EncodeFixed64(h + segment_header::kPrevLastLsn, prev_last_lsn);
  EncodeFixed32(h + segment_header::kCrc, crc32c::Mask(crc32c::Value(h, segment_header::kCrc)));
  dst->append(h, sizeof h);
}

void LogWriter::EncodeRecord(uint64_t lsn, uint8_t type, std::string_view payload,
                             std::string* dst) {
  char h[kRecordHeaderSize] = {};
  EncodeFixed32(h + record_header::kLength, static_cast<uint32_t>(payload.size()));
  EncodeFixed64(h + record_header::kLsn, lsn);
  h[record_header::kType] = static_cast<char>(type);
  uint32_t crc = crc32c::Value(h + record_header::kLength, kRecordHeaderSize - 4);
  crc = crc32c::Extend(crc, payload.data(), payload.size());
  EncodeFixed32(h + record_header::kCrc, crc32c::Mask(crc));
  dst->append(h, sizeof h);
  dst->append(payload);
}

void LogWriter::AddSegmentHeader(uint64_t first_lsn, uint64_t prev_last_lsn) {
  EncodeSegmentHeader(first_lsn, prev_last_lsn, &buf_);
}

void LogWriter::AddRecord(uint64_t lsn, std::string_view payload) {
  assert(payload.size() <= kMaxRecordPayload);
  EncodeRecord(lsn, static_cast<uint8_t>(RecordType::kFull), payload, &buf_);
}

Status LogWriter::WritePending() {
  if (buf_.empty()) return Status::OK();
  Status s = file_->Append(buf_);
  if (s.ok()) s = file_->Flush();
  if (s.ok()) written_ += buf_.size();
  buf_.clear();
  return s;
}

Status LogWriter::DiscardFailedWrite() { return file_->Truncate(written_); }

Status LogWriter::TrimToWritten() { return file_->Truncate(written_); }

Status LogWriter::Sync() { return file_->Sync(); }

Status LogWriter::Close() {
  Status s = WritePending();
  Status c = file_->Close();
  file_.reset();
  return s.ok() ? c : s;
}

}  // namespace stemedb::wal
