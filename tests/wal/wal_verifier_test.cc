#include "wal/wal_verifier.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/util/temp_dir.h"
#include "tests/wal/segment_bytes.h"
#include "wal/log_format.h"
#include "wal/wal.h"

namespace stemedb::wal {
namespace {

using stemedb::testing::ReadAll;
using stemedb::testing::TempDir;
using stemedb::testing::WriteAll;

// Three segments of 10 records each ("r1".."r30"); returns segment names.
std::vector<std::string> WriteLog(const std::string& dir) {
  WalOptions o;
  o.dir = dir;
  o.preallocate_next_segment = false;
  auto wal = std::move(*Wal::Open(o, nullptr));
  for (int seg = 0; seg < 3; seg++) {
    for (int i = 1; i <= 10; i++) EXPECT_TRUE(wal->Append("r" + std::to_string(seg * 10 + i)));
    if (seg < 2) {
      EXPECT_TRUE(wal->Rotate().ok());
    }
  }
  auto files = wal->SegmentFiles();
  EXPECT_TRUE(wal->Close().ok());
  return files;
}

TEST(WalVerifierTest, CleanLog) {
  TempDir tmp;
  WriteLog(tmp.path());
  WalVerifyReport report;
  Status s = VerifyWalDir(tmp.path(), &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(3u, report.segments);
  EXPECT_EQ(30u, report.records);
  EXPECT_EQ(Lsn(1), report.first_lsn);
  EXPECT_EQ(Lsn(30), report.last_lsn);
  EXPECT_FALSE(report.damaged);
}

TEST(WalVerifierTest, EmptyDirIsClean) {
  TempDir tmp;
  WalVerifyReport report;
  ASSERT_TRUE(VerifyWalDir(tmp.path(), &report).ok());
  EXPECT_EQ(0u, report.segments);
  EXPECT_EQ(Lsn(0), report.last_lsn);
}

TEST(WalVerifierTest, MissingDirIsAnError) {
  TempDir tmp;
  WalVerifyReport report;
  EXPECT_FALSE(VerifyWalDir(tmp.Sub("nope"), &report).ok());
}

TEST(WalVerifierTest, SealedCorruptionIsReportedAndNotRepaired) {
  TempDir tmp;
  auto files = WriteLog(tmp.path());
  std::string bytes = ReadAll(tmp.Sub(files[1]));
  const size_t offset = kSegmentHeaderSize + 3 * (kRecordHeaderSize + 3);  // record 14
  bytes[offset + kRecordHeaderSize] ^= 0x20;
  WriteAll(tmp.Sub(files[1]), bytes);

  WalVerifyReport report;
  Status s = VerifyWalDir(tmp.path(), &report);
  ASSERT_TRUE(s.IsCorruption());
  EXPECT_NE(std::string::npos, s.message().find(files[1] + " offset " + std::to_string(offset)))
      << s.ToString();
  EXPECT_TRUE(report.damaged);
  EXPECT_EQ(files[1], report.bad_file);
  EXPECT_EQ(offset, report.bad_offset);
  EXPECT_EQ("record checksum mismatch", report.bad_reason);
  EXPECT_FALSE(report.repairable);
  EXPECT_EQ(13u, report.records);
  EXPECT_EQ(Lsn(13), report.last_lsn);

  s = RepairWalDir(tmp.path(), &report);
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_FALSE(report.repaired);
  EXPECT_EQ(bytes, ReadAll(tmp.Sub(files[1])));  // untouched
}

TEST(WalVerifierTest, TornTailIsRepairable) {
  TempDir tmp;
  auto files = WriteLog(tmp.path());
  const std::string path = tmp.Sub(files[2]);
  std::string bytes = ReadAll(path);
  const size_t keep = bytes.size() - 7;
  WriteAll(path, bytes.substr(0, keep));  // the last record is torn

  WalVerifyReport report;
  Status s = VerifyWalDir(tmp.path(), &report);
  ASSERT_TRUE(s.IsCorruption());
  EXPECT_TRUE(report.repairable);
  EXPECT_EQ(files[2], report.bad_file);
  EXPECT_EQ(Lsn(29), report.last_lsn);
  EXPECT_EQ(keep, std::filesystem::file_size(path));  // verify is read-only

  s = RepairWalDir(tmp.path(), &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(report.repaired);
  EXPECT_EQ(report.bad_offset, report.truncated_offset);
  // Up to the last non-zero byte (here the low byte of the torn record's LSN).
  EXPECT_EQ(9u, report.bytes_moved_aside);
  EXPECT_EQ(report.truncated_offset, std::filesystem::file_size(path));
  EXPECT_TRUE(std::filesystem::exists(path + ".broken"));
  ASSERT_TRUE(VerifyWalDir(tmp.path(), &report).ok());
  EXPECT_EQ(Lsn(29), report.last_lsn);
}

TEST(WalVerifierTest, MissingSegmentIsReported) {
  TempDir tmp;
  auto files = WriteLog(tmp.path());
  std::filesystem::remove(tmp.Sub(files[1]));
  WalVerifyReport report;
  Status s = VerifyWalDir(tmp.path(), &report);
  ASSERT_TRUE(s.IsCorruption());
  EXPECT_EQ(files[2], report.bad_file);
  EXPECT_FALSE(report.repairable);
  EXPECT_NE(std::string::npos, report.bad_reason.find("missing"));
}

TEST(WalVerifierTest, RepairRefusesWhileTheWalIsOpen) {
  TempDir tmp;
  WalOptions o;
  o.dir = tmp.path();
  o.preallocate_next_segment = false;
  auto wal = std::move(*Wal::Open(o, nullptr));
  WalVerifyReport report;
  EXPECT_EQ(Status::Code::kBusy, RepairWalDir(tmp.path(), &report).code());
  // Verify takes no lock: it may inspect a live directory.
  EXPECT_TRUE(VerifyWalDir(tmp.path(), &report).ok());
}

TEST(WalVerifierTest, VerifyAgreesWithOpen) {
  // Whatever verify calls repairable, Open accepts; what it calls sealed
  // corruption, Open refuses.
  TempDir base;
  auto files = WriteLog(base.Sub("wal"));
  const std::string last = ReadAll(base.Sub("wal/" + files[2]));
  for (size_t i = 0; i < last.size(); i += 11) {
    TempDir tmp;
    for (size_t f = 0; f < 2; f++)
      WriteAll(tmp.Sub(files[f]), ReadAll(base.Sub("wal/" + files[f])));
    std::string bytes = last;
    bytes[i] ^= 0x04;
    WriteAll(tmp.Sub(files[2]), bytes);
    WalVerifyReport report;
    Status v = VerifyWalDir(tmp.path(), &report);
    WalOptions o;
    o.dir = tmp.path();
    o.preallocate_next_segment = false;
    auto wal = Wal::Open(o, nullptr);
    EXPECT_EQ(v.ok() || report.repairable, static_cast<bool>(wal)) << "flip at " << i;
  }
}

}  // namespace
}  // namespace stemedb::wal
