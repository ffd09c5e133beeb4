// Helpers for tests that forge or damage segment files byte by byte.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "util/crc32c.h"
#include "wal/log_format.h"
#include "wal/log_writer.h"

namespace stemedb::testing {

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// A segment: header + one kFull record per payload, LSNs from first_lsn.
inline std::string ForgeSegment(uint64_t first_lsn, uint64_t prev_last_lsn,
                                const std::vector<std::string>& payloads) {
  std::string out;
  wal::LogWriter::EncodeSegmentHeader(first_lsn, prev_last_lsn, &out);
  uint64_t lsn = first_lsn;
  for (const auto& p : payloads) {
    wal::LogWriter::EncodeRecord(lsn++, static_cast<uint8_t>(wal::RecordType::kFull), p, &out);
  }
  return out;
}

// Recomputes the CRC of the record starting at `offset` so that a test
// reaches the check after the CRC (LevelDB log_test's FixChecksum).
inline void FixRecordChecksum(std::string* seg, size_t offset) {
  uint32_t len = wal::DecodeFixed32(seg->data() + offset + wal::record_header::kLength);
  uint32_t crc = crc32c::Value(seg->data() + offset + wal::record_header::kLength,
                               wal::kRecordHeaderSize - 4 + len);
  wal::EncodeFixed32(seg->data() + offset, crc32c::Mask(crc));
}

}  // namespace stemedb::testing
