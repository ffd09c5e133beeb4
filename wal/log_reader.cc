#include "wal/log_reader.h"

#include <algorithm>
#include <cstring>

#include "util/crc32c.h"
#include "wal/log_format.h"

namespace stemedb::wal {
namespace {

constexpr size_t kReadChunk = 256 * 1024;

bool AllZero(const char* p, size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == 0; });
}

}  // namespace

LogReader::LogReader(std::unique_ptr<SequentialFile> file, std::string name, uint64_t file_size)
    : file_(std::move(file)), name_(std::move(name)), file_size_(file_size) {}

Result<size_t> LogReader::Fill(size_t n) {
  while (end_ - pos_ < n && !eof_) {
    if (pos_ > 0) {
      // Compact: keep only unread bytes at the front.
      std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
      buf_offset_ += pos_;
      end_ -= pos_;
      pos_ = 0;
    }
    size_t want = std::max(n - end_, kReadChunk);
    if (buf_.size() < end_ + want) buf_.resize(end_ + want);
    std::string_view got;
    Status s = file_->Read(want, &got, buf_.data() + end_);
    if (!s.ok()) return s;
    if (got.data() != buf_.data() + end_) std::memmove(buf_.data() + end_, got.data(), got.size());
    end_ += got.size();
    if (got.size() < want) eof_ = true;
  }
  return std::min(n, end_ - pos_);
}

LogReader::Outcome LogReader::Bad(uint64_t offset, std::string reason) {
  bad_offset_ = offset;
  reason_ = std::move(reason);
  return Outcome::kBad;
}

LogReader::Outcome LogReader::ReadHeader(SegmentHeader* header, Status* io) {
  auto avail = Fill(kSegmentHeaderSize);
  if (!avail) {
    *io = avail.error();
    return Outcome::kBad;
  }
  const char* h = buf_.data() + pos_;
  if (*avail < kSegmentHeaderSize) {
    return Bad(0, AllZero(h, *avail) ? "segment header never written (zero or empty)"
                                     : "truncated segment header");
  }
  if (AllZero(h, kSegmentHeaderSize)) return Bad(0, "segment header never written (zeros)");
  if (std::memcmp(h + segment_header::kMagic, kSegmentMagic, sizeof kSegmentMagic) != 0) {
    return Bad(0, "bad segment magic");
  }
  uint32_t crc = crc32c::Unmask(DecodeFixed32(h + segment_header::kCrc));
  if (crc != crc32c::Value(h, segment_header::kCrc)) {
    return Bad(0, "segment header checksum mismatch");
  }
  uint16_t version = DecodeFixed16(h + segment_header::kVersion);
  if (version != kFormatVersion) {
    return Bad(0, "unsupported segment format version " + std::to_string(version));
  }
  header->first_lsn = DecodeFixed64(h + segment_header::kFirstLsn);
  header->prev_last_lsn = DecodeFixed64(h + segment_header::kPrevLastLsn);
  expected_lsn_ = header->first_lsn;
  pos_ += kSegmentHeaderSize;
  valid_end_ = kSegmentHeaderSize;
  return Outcome::kRecord;
}

LogReader::Outcome LogReader::Next(uint64_t* lsn, std::string_view* payload, Status* io) {
  for (;;) {
    const uint64_t offset = buf_offset_ + pos_;
    auto avail = Fill(kRecordHeaderSize);
    if (!avail) {
      *io = avail.error();
      return Outcome::kBad;
    }
    if (*avail == 0) return Outcome::kEnd;
    const char* h = buf_.data() + pos_;
    if (*avail < kRecordHeaderSize) {
      if (AllZero(h, *avail)) {
        at_zero_header_ = true;
        return Outcome::kEnd;
      }
      return Bad(offset, "truncated record header");
    }
    if (AllZero(h, kRecordHeaderSize)) {
      at_zero_header_ = true;
      return Outcome::kEnd;
    }
    const uint32_t length = DecodeFixed32(h + record_header::kLength);
    // Bound the length before trusting it (etcd's length-vs-file-size check).
    if (length > kMaxRecordPayload) {
      return Bad(offset, "record length " + std::to_string(length) + " exceeds maximum");
    }
    if (offset + kRecordHeaderSize + length > file_size_) {
      return Bad(offset,
                 "truncated record: length " + std::to_string(length) + " runs past end of file");
    }
    avail = Fill(kRecordHeaderSize + length);
    if (!avail) {
      *io = avail.error();
      return Outcome::kBad;
    }
    if (*avail < kRecordHeaderSize + length) {
      return Bad(offset, "truncated record (file shrank while reading)");
    }
    h = buf_.data() + pos_;
    uint32_t expected_crc = crc32c::Unmask(DecodeFixed32(h + record_header::kCrc));
    uint32_t actual_crc = crc32c::Value(h + record_header::kLength, kRecordHeaderSize - 4 + length);
    if (expected_crc != actual_crc) return Bad(offset, "record checksum mismatch");
    const uint8_t type = static_cast<uint8_t>(h[record_header::kType]);
    if (!AllZero(h + record_header::kReserved, 3)) {
      return Bad(offset, "record reserved bytes set");
    }
    const uint64_t record_lsn = DecodeFixed64(h + record_header::kLsn);
    if (type != static_cast<uint8_t>(RecordType::kFull)) {
      if ((type & kRecordTypeSafeIgnoreBit) == 0) {
        return Bad(offset, "unknown record type " + std::to_string(type));
      }
      // A record from a newer writer that we may skip; it takes no LSN.
      pos_ += kRecordHeaderSize + length;
      valid_end_ = offset + kRecordHeaderSize + length;
      continue;
    }
    if (record_lsn != expected_lsn_) {
      return Bad(offset, "record lsn " + std::to_string(record_lsn) + ", expected " +
                             std::to_string(expected_lsn_));
    }
    *lsn = record_lsn;
    *payload = std::string_view(h + kRecordHeaderSize, length);
    expected_lsn_++;
    pos_ += kRecordHeaderSize + length;
    valid_end_ = offset + kRecordHeaderSize + length;
    return Outcome::kRecord;
  }
}

Status LogReader::ScanTail(uint64_t* nonzero_end) {
  *nonzero_end = valid_end_;
  // Re-position to valid_end_ within the buffer (the reader may have looked
  // past it when it met the bad spot).
  if (valid_end_ < buf_offset_) return Status::Corruption(name_ + ": ScanTail before buffer");
  pos_ = static_cast<size_t>(valid_end_ - buf_offset_);
  if (pos_ > end_) return Status::Corruption(name_ + ": ScanTail past buffer");
  for (;;) {
    for (size_t i = end_; i > pos_; i--) {
      if (buf_[i - 1] != 0) {
        *nonzero_end = buf_offset_ + i;
        break;
      }
    }
    buf_offset_ += end_;
    pos_ = end_ = 0;
    if (eof_) return Status::OK();
    auto got = Fill(kReadChunk);
    if (!got) return got.error();
    if (*got == 0) return Status::OK();
  }
}

}  // namespace stemedb::wal
