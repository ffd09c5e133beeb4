// The bytes of a WAL segment. Nothing else in StemeDB defines them: the
// writer, the reader, the verifier and the tests all use these constants.
// wal/FORMAT.md has the grammar, a worked example and the recovery rules.
//
// A segment file is named after the LSN of its first record, as 16
// zero-padded lower-case hex digits plus ".wal" (0000000000000001.wal), so
// `ls` order is log order. It holds one segment header, then records back to
// back (no block structure, no fragments: one record = one frame), then
// possibly zeros (the preallocated, not yet written part).
//
// Segment header (kSegmentHeaderSize = 32 bytes, little-endian):
//   +--------+---------+----------+-----------+---------------+---------+
//   | magic  | version | reserved | first_lsn | prev_last_lsn | crc     |
//   | 8 B    | u16     | u16 = 0  | u64       | u64 (see 1)   | u32 (2) |
//   +--------+---------+----------+-----------+---------------+---------+
//   (1) LSN of the last record of the previous segment: chains segments, so
//       a missing one is detected, while still allowing the single declared
//       jump created by WalOptions::next_lsn_floor.
//   (2) masked CRC32C of the preceding 28 bytes.
//
// Record (kRecordHeaderSize = 20 bytes of header, then the payload):
//   +---------+---------+---------+---------+----------+-------------+
//   | crc     | length  | lsn     | type    | reserved | payload     |
//   | u32 (3) | u32 (4) | u64     | u8      | 3 B = 0  | length B    |
//   +---------+---------+---------+---------+----------+-------------+
//   (3) masked CRC32C (crc32c::Mask, LevelDB's scheme, so a payload that
//       itself embeds CRCs does not weaken the check) of everything after
//       the crc field: length, lsn, type, reserved and payload.
//   (4) payload bytes, <= kMaxRecordPayload. Checked before anything is
//       allocated or read.
//
// Type 0 is never written: a record header of 20 zero bytes is the start of
// the preallocated (zero-filled) tail. Types with kRecordTypeSafeIgnoreBit set
// are skipped by readers that do not know them (forward compatibility); other
// unknown types are corruption. LSNs are consecutive within a segment.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace stemedb::wal {

inline constexpr char kSegmentMagic[8] = {'S', 'T', 'E', 'M', 'W', 'A', 'L', '\n'};
inline constexpr uint16_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr size_t kRecordHeaderSize = 20;
// Requests are at most 1 MiB (STEMEDB_MAX_BODY_BYTES, docs/configuration.md); the engine's
// encoding of one request stays far below this.
inline constexpr uint32_t kMaxRecordPayload = 16u << 20;

inline constexpr std::string_view kSegmentSuffix = ".wal";
inline constexpr size_t kSegmentNameDigits = 16;
// Zero-filled segment being prepared in the background; never replayed.
inline constexpr std::string_view kPreallocFileName = "prealloc.tmp";
// Bytes cut from a torn tail are kept in <segment>.broken for post-mortems.
inline constexpr std::string_view kBrokenSuffix = ".broken";
// flock'ed by an open Wal and by RepairWalDir, so neither runs under the other.
inline constexpr std::string_view kLockFileName = "LOCK";

enum class RecordType : uint8_t {
  kZero = 0,  // reserved: preallocated zeros, never written
  kFull = 1,  // one complete record
};
inline constexpr uint8_t kRecordTypeSafeIgnoreBit = 0x80;

inline void EncodeFixed16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
}
inline void EncodeFixed32(char* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<char>(v >> (8 * i));
}
inline void EncodeFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<char>(v >> (8 * i));
}
inline uint16_t DecodeFixed16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) |
                               (static_cast<uint16_t>(static_cast<uint8_t>(p[1])) << 8));
}
inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Field offsets inside the two headers.
namespace segment_header {
inline constexpr size_t kMagic = 0;
inline constexpr size_t kVersion = 8;
inline constexpr size_t kReserved = 10;
inline constexpr size_t kFirstLsn = 12;
inline constexpr size_t kPrevLastLsn = 20;
inline constexpr size_t kCrc = 28;
}  // namespace segment_header

namespace record_header {
inline constexpr size_t kCrc = 0;
inline constexpr size_t kLength = 4;
inline constexpr size_t kLsn = 8;
inline constexpr size_t kType = 16;
inline constexpr size_t kReserved = 17;  // 3 bytes
}  // namespace record_header

// "0000000000000001.wal" for the segment whose first record is `first_lsn`.
std::string SegmentFileName(uint64_t first_lsn);
// Inverse of SegmentFileName; false for any other name (.broken, LOCK, tmp).
bool ParseSegmentFileName(std::string_view name, uint64_t* first_lsn);

}  // namespace stemedb::wal
