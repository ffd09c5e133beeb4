// One test per reader branch (STYLE §7.9), on forged segments, through the
// same scan the server and `stemectl wal verify` use.
#include "wal/log_reader.h"

#include <gtest/gtest.h>

#include "tests/util/temp_dir.h"
#include "tests/wal/segment_bytes.h"
#include "wal/segment_scan.h"
#include "wal/wal.h"

namespace stemedb::wal {
namespace {

using stemedb::testing::FixRecordChecksum;
using stemedb::testing::ForgeSegment;
using stemedb::testing::TempDir;
using stemedb::testing::WriteAll;

const std::vector<std::string> kPayloads = {"alpha", "", "gamma-gamma", std::string(300, 'd')};
// Offset of record i in a segment forged from kPayloads.
size_t RecordOffset(size_t i) {
  size_t off = kSegmentHeaderSize;
  for (size_t k = 0; k < i; k++) off += kRecordHeaderSize + kPayloads[k].size();
  return off;
}

class LogReaderTest : public ::testing::Test {
 protected:
  SegmentScan Scan(const std::string& bytes, uint64_t first_lsn = 1) {
    const std::string name = SegmentFileName(first_lsn);
    WriteAll(tmp_.Sub(name), bytes);
    SegmentScan scan;
    Status s = ScanSegment(Env::Default(), tmp_.path(), name, &scan);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return scan;
  }
  // Scans `seg`, which must be damaged at `bad_offset` for exactly `reason`
  // (or, with `whole_reason` false, a reason containing it).
  void ExpectDamage(const std::string& seg, size_t bad_offset, const std::string& reason,
                    bool whole_reason = true) {
    auto scan = Scan(seg);
    ASSERT_TRUE(scan.damaged);
    EXPECT_EQ(bad_offset, scan.bad_offset);
    if (whole_reason) {
      EXPECT_EQ(reason, scan.reason);
    } else {
      EXPECT_NE(std::string::npos, scan.reason.find(reason)) << scan.reason;
    }
  }
  TempDir tmp_;
};

TEST_F(LogReaderTest, CleanSegment) {
  auto scan = Scan(ForgeSegment(1, 0, kPayloads));
  EXPECT_FALSE(scan.damaged) << scan.reason;
  EXPECT_EQ(4u, scan.records);
  EXPECT_EQ(4u, scan.last_lsn);
  EXPECT_EQ(RecordOffset(4), scan.valid_end);
}

TEST_F(LogReaderTest, ReadsPayloadsInOrder) {
  std::string seg = ForgeSegment(7, 6, kPayloads);
  WriteAll(tmp_.Sub("x"), seg);
  auto file = Env::Default()->NewSequentialFile(tmp_.Sub("x"));
  ASSERT_TRUE(file);
  LogReader reader(std::move(*file), "x", seg.size());
  SegmentHeader h;
  Status io;
  ASSERT_EQ(LogReader::Outcome::kRecord, reader.ReadHeader(&h, &io));
  EXPECT_EQ(7u, h.first_lsn);
  EXPECT_EQ(6u, h.prev_last_lsn);
  for (size_t i = 0; i < kPayloads.size(); i++) {
    uint64_t lsn;
    std::string_view payload;
    ASSERT_EQ(LogReader::Outcome::kRecord, reader.Next(&lsn, &payload, &io));
    EXPECT_EQ(7 + i, lsn);
    EXPECT_EQ(kPayloads[i], payload);
  }
  uint64_t lsn;
  std::string_view payload;
  EXPECT_EQ(LogReader::Outcome::kEnd, reader.Next(&lsn, &payload, &io));
  EXPECT_FALSE(reader.at_zero_header());
}

TEST_F(LogReaderTest, ZeroFilledTailIsACleanEnd) {
  std::string seg = ForgeSegment(1, 0, kPayloads) + std::string(5000, '\0');
  auto scan = Scan(seg);
  EXPECT_FALSE(scan.damaged) << scan.reason;
  EXPECT_EQ(4u, scan.records);
  EXPECT_EQ(RecordOffset(4), scan.nonzero_end);
}

TEST_F(LogReaderTest, ShortZeroTailIsACleanEnd) {
  auto scan = Scan(ForgeSegment(1, 0, kPayloads) + std::string(7, '\0'));
  EXPECT_FALSE(scan.damaged) << scan.reason;
}

TEST_F(LogReaderTest, DataAfterZeroHeaderIsDamage) {
  std::string seg = ForgeSegment(1, 0, kPayloads) + std::string(100, '\0') + "junk";
  auto scan = Scan(seg);
  ASSERT_TRUE(scan.damaged);
  EXPECT_EQ(RecordOffset(4), scan.bad_offset);
  EXPECT_EQ(seg.size(), scan.nonzero_end);
  EXPECT_NE(std::string::npos, scan.reason.find("non-zero bytes")) << scan.reason;
}

TEST_F(LogReaderTest, ChecksumMismatch) {
  std::string seg = ForgeSegment(1, 0, kPayloads);
  seg[RecordOffset(2) + kRecordHeaderSize + 3] ^= 1;
  auto scan = Scan(seg);
  ASSERT_TRUE(scan.damaged);
  EXPECT_EQ(RecordOffset(2), scan.bad_offset);
  EXPECT_EQ(RecordOffset(2), scan.valid_end);
  EXPECT_EQ(2u, scan.records);
  EXPECT_EQ("record checksum mismatch", scan.reason);
}

TEST_F(LogReaderTest, LengthAboveMaximum) {
  std::string seg = ForgeSegment(1, 0, kPayloads);
  EncodeFixed32(seg.data() + RecordOffset(1) + record_header::kLength, kMaxRecordPayload + 1);
  ExpectDamage(seg, RecordOffset(1), "exceeds maximum", /*whole_reason=*/false);
}

TEST_F(LogReaderTest, LengthPastEndOfFileIsTruncatedRecord) {
  std::string seg = ForgeSegment(1, 0, kPayloads);
  seg.resize(seg.size() - 10);
  ExpectDamage(seg, RecordOffset(3), "truncated record", /*whole_reason=*/false);
}

TEST_F(LogReaderTest, TruncatedRecordHeader) {
  std::string seg = ForgeSegment(1, 0, kPayloads);
  seg.resize(RecordOffset(3) + 5);
  ExpectDamage(seg, RecordOffset(3), "truncated record header");
}

TEST_F(LogReaderTest, UnknownRecordType) {
  std::string seg = ForgeSegment(1, 0, kPayloads);
  seg[RecordOffset(1) + record_header::kType] = 5;
  FixRecordChecksum(&seg, RecordOffset(1));
  ExpectDamage(seg, RecordOffset(1), "unknown record type 5");
}

TEST_F(LogReaderTest, SafeToIgnoreTypeIsSkipped) {
  std::string seg = ForgeSegment(1, 0, {"a"});
  LogWriter::EncodeRecord(0, kRecordTypeSafeIgnoreBit | 3, "future", &seg);
  LogWriter::EncodeRecord(2, static_cast<uint8_t>(RecordType::kFull), "b", &seg);
  auto scan = Scan(seg);
  EXPECT_FALSE(scan.damaged) << scan.reason;
  EXPECT_EQ(2u, scan.records);
  EXPECT_EQ(2u, scan.last_lsn);
}

TEST_F(LogReaderTest, ReservedBytesSet) {
  std::string seg = ForgeSegment(1, 0, kPayloads);
  seg[RecordOffset(0) + record_header::kReserved + 1] = 1;
  FixRecordChecksum(&seg, RecordOffset(0));
  ExpectDamage(seg, RecordOffset(0), "record reserved bytes set");
}

TEST_F(LogReaderTest, LsnDiscontinuity) {
  std::string seg = ForgeSegment(1, 0, kPayloads);
  EncodeFixed64(seg.data() + RecordOffset(2) + record_header::kLsn, 9);
  FixRecordChecksum(&seg, RecordOffset(2));
  ExpectDamage(seg, RecordOffset(2), "record lsn 9, expected 3");
}

TEST_F(LogReaderTest, BadMagic) {
  std::string seg = ForgeSegment(1, 0, kPayloads);
  seg[0] = 'X';
  auto scan = Scan(seg);
  ASSERT_TRUE(scan.damaged);
  EXPECT_FALSE(scan.header_ok);
  EXPECT_EQ(0u, scan.bad_offset);
  EXPECT_EQ("bad segment magic", scan.reason);
}

TEST_F(LogReaderTest, HeaderChecksumMismatch) {
  std::string seg = ForgeSegment(1, 0, kPayloads);
  seg[segment_header::kPrevLastLsn] ^= 0x10;
  ExpectDamage(seg, 0, "segment header checksum mismatch");
}

TEST_F(LogReaderTest, UnsupportedVersion) {
  std::string seg = ForgeSegment(1, 0, kPayloads);
  EncodeFixed16(seg.data() + segment_header::kVersion, 2);
  uint32_t crc = crc32c::Value(seg.data(), segment_header::kCrc);
  EncodeFixed32(seg.data() + segment_header::kCrc, crc32c::Mask(crc));
  ExpectDamage(seg, 0, "unsupported segment format version 2");
}

TEST_F(LogReaderTest, HeaderNeverWritten) {
  auto scan = Scan(std::string(4096, '\0'));
  ASSERT_TRUE(scan.damaged);
  EXPECT_FALSE(scan.header_ok);
  EXPECT_EQ(0u, scan.nonzero_end);  // nothing worth moving aside
}

TEST_F(LogReaderTest, NameAndHeaderDisagree) {
  auto scan = Scan(ForgeSegment(5, 4, kPayloads), /*first_lsn=*/1);
  ASSERT_TRUE(scan.damaged);
  EXPECT_EQ(0u, scan.bad_offset);
  EXPECT_NE(std::string::npos, scan.reason.find("does not match the file name"));
}

// Pins the on-disk format: wal/FORMAT.md's worked example, byte for byte.
// Produced once by the encoder and checked by hand against the grammar; if
// this test fails, the format changed and kFormatVersion must change too.
TEST(LogFormatTest, GoldenBytesOfTheWorkedExample) {
  const std::string golden_hex =
      "5354454d57414c0a0100000001000000"
      "00000000000000000000000044b597a1"
      "a627bf12010000000100000000000000"
      "010000006185e6e8d200000000020000"
      "0000000000010000003d6be689020000"
      "000300000000000000010000006869";
  std::string hex;
  for (unsigned char c : ForgeSegment(1, 0, {"a", "", "hi"})) {
    static const char* digits = "0123456789abcdef";
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  EXPECT_EQ(golden_hex, hex);
  EXPECT_EQ(95u, hex.size() / 2);
}

TEST(SegmentNameTest, RoundTripAndRejects) {
  EXPECT_EQ("0000000000000001.wal", SegmentFileName(1));
  EXPECT_EQ("00000000000000ff.wal", SegmentFileName(255));
  uint64_t lsn = 0;
  EXPECT_TRUE(ParseSegmentFileName("00000000000000ff.wal", &lsn));
  EXPECT_EQ(255u, lsn);
  EXPECT_FALSE(ParseSegmentFileName("00000000000000FF.wal", &lsn));
  EXPECT_FALSE(ParseSegmentFileName("0000000000000001.wal.broken", &lsn));
  EXPECT_FALSE(ParseSegmentFileName("000000000000001.wal", &lsn));
  EXPECT_FALSE(ParseSegmentFileName("prealloc.tmp", &lsn));
}

}  // namespace
}  // namespace stemedb::wal
