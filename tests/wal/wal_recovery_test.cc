// Recovery (wal/FORMAT.md "Recovery"): damage every byte of a small log and
// cut it at every offset; recovery must never return a corrupted record and
// never lose a record that lies wholly before the damage. Damage in a sealed
// segment refuses Open with the file and the offset.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/util/temp_dir.h"
#include "tests/wal/no_sync_env.h"
#include "tests/wal/segment_bytes.h"
#include "tests/wal/wal_test_options.h"
#include "wal/log_format.h"
#include "wal/wal.h"

namespace stemedb::wal {
namespace {

using stemedb::testing::ReadAll;
using stemedb::testing::TempDir;
using stemedb::testing::WriteAll;

WalOptions Options(const std::string& dir) {
  static testing::NoSyncEnv env;  // the loops below open hundreds of logs
  return testing::SmallSegmentOptions(dir, &env);
}

std::vector<std::string> Payloads() { return {"one", "", "three33", std::string(40, '4'), "5"}; }

// Writes Payloads() with the real Wal into dir; returns the newest segment.
std::string WriteLog(const std::string& dir, const std::vector<std::string>& payloads) {
  auto wal = std::move(*Wal::Open(Options(dir), nullptr));
  for (const auto& p : payloads) EXPECT_TRUE(wal->Append(p));
  auto files = wal->SegmentFiles();
  EXPECT_TRUE(wal->Close().ok());
  return files.back();
}

// Writes Payloads() into a first segment, seals it and writes `second` into
// the next; returns both segment names.
std::vector<std::string> WriteSealedAndActive(const std::string& dir, const std::string& second) {
  auto wal = std::move(*Wal::Open(Options(dir), nullptr));
  for (const auto& p : Payloads()) EXPECT_TRUE(wal->Append(p));
  EXPECT_TRUE(wal->Rotate().ok());
  EXPECT_TRUE(wal->Append(second));
  auto files = wal->SegmentFiles();
  EXPECT_TRUE(wal->Close().ok());
  return files;
}

// End offset of each record's frame in a single-segment log.
std::vector<size_t> RecordEnds(const std::vector<std::string>& payloads) {
  std::vector<size_t> ends;
  size_t off = kSegmentHeaderSize;
  for (const auto& p : payloads) ends.push_back(off += kRecordHeaderSize + p.size());
  return ends;
}

// Opens dir, replays, and checks: every record is an original one with the
// right LSN, and every record whose frame ends at or before `damage` is there.
void CheckRecovery(const std::string& dir, size_t damage, const std::string& what) {
  const auto payloads = Payloads();
  const auto ends = RecordEnds(payloads);
  auto wal = Wal::Open(Options(dir), nullptr);
  ASSERT_TRUE(wal) << what << ": " << wal.error().ToString();
  std::vector<std::string> got;
  Status s = (*wal)->Replay(Lsn(1), [&](const ReplayedRecord& r) {
    EXPECT_EQ(got.size() + 1, r.lsn.value()) << what;
    got.emplace_back(r.payload);
    return Status::OK();
  });
  ASSERT_TRUE(s.ok()) << what << ": " << s.ToString();
  ASSERT_LE(got.size(), payloads.size()) << what;
  for (size_t i = 0; i < got.size(); i++) EXPECT_EQ(payloads[i], got[i]) << what;
  size_t must_have = 0;
  while (must_have < ends.size() && ends[must_have] <= damage) must_have++;
  EXPECT_GE(got.size(), must_have) << what;
  // The log is writable again and continues right after what survived.
  auto lsn = (*wal)->Append("after");
  ASSERT_TRUE(lsn) << what;
  EXPECT_EQ(got.size() + 1, lsn->value()) << what;
}

TEST(WalRecoveryTest, FlipEveryByteOfTheNewestSegment) {
  TempDir base;
  const std::string name = WriteLog(base.Sub("wal"), Payloads());
  const std::string original = ReadAll(base.Sub("wal/" + name));
  ASSERT_EQ(RecordEnds(Payloads()).back(), original.size());
  for (size_t i = 0; i < original.size(); i++) {
    TempDir tmp;
    std::string bytes = original;
    bytes[i] ^= 0x40;
    WriteAll(tmp.Sub(name), bytes);
    CheckRecovery(tmp.path(), i, "flip at " + std::to_string(i));
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(WalRecoveryTest, TruncateNewestSegmentAtEveryOffset) {
  TempDir base;
  const std::string name = WriteLog(base.Sub("wal"), Payloads());
  const std::string original = ReadAll(base.Sub("wal/" + name));
  for (size_t len = 0; len <= original.size(); len++) {
    TempDir tmp;
    WriteAll(tmp.Sub(name), original.substr(0, len));
    CheckRecovery(tmp.path(), len, "truncate at " + std::to_string(len));
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(WalRecoveryTest, TornTailIsTruncatedAndKeptAsBroken) {
  TempDir tmp;
  const std::string name = WriteLog(tmp.path(), Payloads());
  std::string bytes = ReadAll(tmp.Sub(name));
  const size_t cut = RecordEnds(Payloads())[2];
  bytes[cut + 5] ^= 1;  // damage record 4 (lsn 4)
  WriteAll(tmp.Sub(name), bytes);
  RecoveryReport report;
  auto wal = Wal::Open(Options(tmp.path()), &report);
  ASSERT_TRUE(wal) << wal.error().ToString();
  EXPECT_TRUE(report.truncated_tail);
  EXPECT_EQ(name, report.truncated_file);
  EXPECT_EQ(cut, report.truncated_offset);
  EXPECT_EQ(bytes.size() - cut, report.truncated_bytes);
  EXPECT_EQ(Lsn(3), report.last_lsn);
  EXPECT_EQ(cut, std::filesystem::file_size(tmp.Sub(name)));
  EXPECT_EQ(bytes.substr(cut), ReadAll(tmp.Sub(name + ".broken")));
  EXPECT_EQ(Lsn(4), (*wal)->Append("new four").value());
}

TEST(WalRecoveryTest, ZeroFilledTailIsNotTruncated) {
  TempDir tmp;
  const std::string name = WriteLog(tmp.path(), Payloads());
  std::string bytes = ReadAll(tmp.Sub(name)) + std::string(10000, '\0');
  WriteAll(tmp.Sub(name), bytes);
  RecoveryReport report;
  auto wal = Wal::Open(Options(tmp.path()), &report);
  ASSERT_TRUE(wal);
  EXPECT_FALSE(report.truncated_tail);
  EXPECT_EQ(Lsn(5), report.last_lsn);
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub(name + ".broken")));
  ASSERT_TRUE((*wal)->Append("six"));
  ASSERT_TRUE((*wal)->Close().ok());
  wal = Wal::Open(Options(tmp.path()), &report);
  ASSERT_TRUE(wal);
  EXPECT_EQ(Lsn(6), report.last_lsn);
}

// Two segments: corruption anywhere in the first (sealed) one refuses Open.
TEST(WalRecoveryTest, EveryByteFlipInASealedSegmentRefusesOpen) {
  TempDir base;
  const std::vector<std::string> files = WriteSealedAndActive(base.path(), "in the second segment");
  ASSERT_EQ(2u, files.size());
  const std::string sealed = ReadAll(base.Sub(files[0]));
  const std::string active = ReadAll(base.Sub(files[1]));
  for (size_t i = 0; i < sealed.size(); i++) {
    TempDir tmp;
    std::string bytes = sealed;
    bytes[i] ^= 0x01;
    WriteAll(tmp.Sub(files[0]), bytes);
    WriteAll(tmp.Sub(files[1]), active);
    auto wal = Wal::Open(Options(tmp.path()), nullptr);
    ASSERT_FALSE(wal) << "flip at " << i;
    const Status& s = wal.error();
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
    EXPECT_NE(std::string::npos, s.message().find(files[0] + " offset ")) << s.ToString();
    // Nothing was modified: the refused directory is evidence.
    EXPECT_EQ(bytes, ReadAll(tmp.Sub(files[0])));
    EXPECT_EQ(active, ReadAll(tmp.Sub(files[1])));
  }
}

TEST(WalRecoveryTest, SealedSegmentCorruptionNamesRecordOffset) {
  TempDir tmp;
  const std::vector<std::string> files = WriteSealedAndActive(tmp.path(), "x");
  ASSERT_EQ(2u, files.size());
  std::string bytes = ReadAll(tmp.Sub(files[0]));
  const size_t record3 = RecordEnds(Payloads())[1];
  bytes[record3 + kRecordHeaderSize + 2] ^= 0x08;
  WriteAll(tmp.Sub(files[0]), bytes);
  auto wal = Wal::Open(Options(tmp.path()), nullptr);
  ASSERT_FALSE(wal);
  EXPECT_TRUE(wal.error().IsCorruption());
  EXPECT_NE(std::string::npos,
            wal.error().message().find(files[0] + " offset " + std::to_string(record3) +
                                       ": record checksum mismatch"))
      << wal.error().ToString();
}

TEST(WalRecoveryTest, MissingMiddleSegmentRefusesOpen) {
  TempDir tmp;
  std::vector<std::string> files;
  {
    auto wal = std::move(*Wal::Open(Options(tmp.path()), nullptr));
    for (int seg = 0; seg < 3; seg++) {
      ASSERT_TRUE(wal->Append("r"));
      ASSERT_TRUE(wal->Rotate().ok());
    }
    files = wal->SegmentFiles();
    ASSERT_TRUE(wal->Close().ok());
  }
  ASSERT_EQ(4u, files.size());
  std::filesystem::remove(tmp.Sub(files[1]));
  auto wal = Wal::Open(Options(tmp.path()), nullptr);
  ASSERT_FALSE(wal);
  EXPECT_TRUE(wal.error().IsCorruption());
  EXPECT_NE(std::string::npos, wal.error().message().find("missing")) << wal.error().ToString();
}

TEST(WalRecoveryTest, NewestSegmentWithUnwrittenHeaderIsDropped) {
  TempDir tmp;
  WriteLog(tmp.path(), Payloads());
  // A crash right after rotation renamed a zero-filled file into place.
  WriteAll(tmp.Sub(SegmentFileName(6)), std::string(8192, '\0'));
  RecoveryReport report;
  auto wal = Wal::Open(Options(tmp.path()), &report);
  ASSERT_TRUE(wal) << wal.error().ToString();
  EXPECT_EQ(Lsn(5), report.last_lsn);
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub(SegmentFileName(6) + ".broken")));
  EXPECT_EQ(Lsn(6), (*wal)->Append("six").value());
}

TEST(WalRecoveryTest, LeftoverPreallocationAndBrokenFilesAreIgnored) {
  TempDir tmp;
  WriteLog(tmp.path(), Payloads());
  WriteAll(tmp.Sub(std::string(kPreallocFileName)), std::string(100, '\0'));
  WriteAll(tmp.Sub(SegmentFileName(1) + ".broken"), "old junk");
  auto wal = Wal::Open(Options(tmp.path()), nullptr);
  ASSERT_TRUE(wal) << wal.error().ToString();
  EXPECT_EQ(Lsn(5), (*wal)->last_lsn());
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub(std::string(kPreallocFileName))));
}

}  // namespace
}  // namespace stemedb::wal
