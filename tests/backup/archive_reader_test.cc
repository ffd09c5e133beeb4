#include "backup/archive_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "backup/manifest.h"
#include "backup/sha256.h"
#include "tests/backup/backup_test_util.h"

namespace stemedb::backup {
namespace {

using testing::ArchiveToFile;
using testing::DirIsEmpty;
using testing::FlipByte;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
namespace fs = std::filesystem;

class ArchiveReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::MakeFakeCheckpoint(tmp_.Sub("ckpt"));
    archive_ = tmp_.Sub("snap.tar");
    size_ = ArchiveToFile(tmp_.Sub("ckpt"), 42, archive_);
    ASSERT_GT(size_, 2u << 20);
  }

  Result<ArchiveSummary> Unpack(const std::string& dir, std::string expected_sha = "") {
    ArchiveReadOptions options;
    options.unpack_dir = dir;
    options.expected_sha256 = std::move(expected_sha);
    return ReadSnapshotArchiveFile(archive_, options);
  }

  TempDir tmp_;
  std::string archive_;
  uint64_t size_ = 0;
};

TEST_F(ArchiveReaderTest, RoundTripRestoresEveryFileByteForByte) {
  std::string target = tmp_.Sub("restore");
  auto summary = Unpack(target);
  ASSERT_TRUE(summary) << summary.error().ToString();
  EXPECT_EQ(summary->manifest.snapshot_lsn, 42u);
  EXPECT_EQ(summary->manifest.server_version, "test");
  EXPECT_EQ(summary->manifest.files.size(), 5u);
  EXPECT_EQ(summary->archive_bytes, size_);
  EXPECT_EQ(summary->archive_sha256, Sha256::Hex(ReadFile(archive_)));
  for (const char* name :
       {"CURRENT", "MANIFEST-000005", "OPTIONS-000007", "000009.sst", "000010.sst"}) {
    EXPECT_EQ(ReadFile(target + "/db/" + name), ReadFile(tmp_.Sub("ckpt/") + name)) << name;
  }
  EXPECT_TRUE(DirIsEmpty(target + "/wal"));
  // Only db/ and wal/: nothing else (no MANIFEST.json) lands in the data dir.
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(target)) entries += e.path().filename() != "" ? 1 : 0;
  EXPECT_EQ(entries, 2u);
}

TEST_F(ArchiveReaderTest, ManifestIsTheFirstEntry) {
  EXPECT_EQ(ReadFile(archive_).substr(0, kManifestName.size()), kManifestName);
}

TEST_F(ArchiveReaderTest, VerifyOnlyWritesNothingAndChecksWholeStreamHash) {
  auto ok = ReadSnapshotArchiveFile(archive_, {.unpack_dir = "", .expected_sha256 = ""});
  ASSERT_TRUE(ok) << ok.error().ToString();
  auto good = ReadSnapshotArchiveFile(archive_, {"", ok->archive_sha256});
  EXPECT_TRUE(good);
  auto bad = ReadSnapshotArchiveFile(archive_, {"", std::string(64, '0')});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().IsCorruption());
}

TEST_F(ArchiveReaderTest, FlippedByteAnywhereFailsAgainstTheChecksumAndLeavesTargetEmpty) {
  const std::string sha = Sha256::Hex(ReadFile(archive_));
  int runs = 0;
  for (uint64_t offset = 0; offset < size_; offset += 97 * 1024 + 13) {
    FlipByte(archive_, offset);
    std::string target = tmp_.Sub("r" + std::to_string(offset));
    auto r = Unpack(target, sha);
    ASSERT_FALSE(r) << "offset " << offset;
    EXPECT_TRUE(r.error().IsCorruption()) << offset << ": " << r.error().ToString();
    EXPECT_TRUE(DirIsEmpty(target)) << offset;
    FlipByte(archive_, offset);  // undo
    ++runs;
  }
  EXPECT_GT(runs, 20);
  FlipByte(archive_, size_ - 1);  // trailing padding: only the whole-stream hash sees it
  EXPECT_FALSE(Unpack(tmp_.Sub("tail"), sha));
}

TEST_F(ArchiveReaderTest, FlippedByteInHeaderManifestOrDataFailsEvenWithoutChecksum) {
  const std::string bytes = ReadFile(archive_);
  const std::string sst = ReadFile(tmp_.Sub("ckpt/000009.sst"));
  size_t data_at = bytes.find(sst.substr(0, 64));
  ASSERT_NE(data_at, std::string::npos);
  for (uint64_t offset : {uint64_t{0}, uint64_t{148}, uint64_t{600}, uint64_t{data_at},
                          uint64_t{data_at + (1 << 20) + 7}, uint64_t{data_at + sst.size() - 1}}) {
    FlipByte(archive_, offset);
    std::string target = tmp_.Sub("r" + std::to_string(offset));
    auto r = Unpack(target);
    EXPECT_FALSE(r) << "offset " << offset;
    if (!r) {
      EXPECT_TRUE(r.error().IsCorruption()) << r.error().ToString();
    }
    EXPECT_TRUE(DirIsEmpty(target)) << offset;
    FlipByte(archive_, offset);
  }
}

TEST_F(ArchiveReaderTest, TruncatedArchiveIsDetectedAndLeavesTargetEmpty) {
  const std::string bytes = ReadFile(archive_);
  const std::string sha = Sha256::Hex(bytes);
  for (uint64_t len : {uint64_t{0}, uint64_t{100}, uint64_t{512}, uint64_t{1500}, size_ / 3,
                       size_ / 2, size_ * 3 / 4, size_ - 1}) {
    WriteFile(archive_, bytes.substr(0, len));
    std::string target = tmp_.Sub("t" + std::to_string(len));
    auto r = Unpack(target, sha);
    ASSERT_FALSE(r) << "length " << len;
    EXPECT_TRUE(r.error().IsCorruption()) << len << ": " << r.error().ToString();
    EXPECT_TRUE(DirIsEmpty(target)) << len;
    if (len < size_ * 3 / 4) {  // cut inside the data: found without the checksum too
      EXPECT_FALSE(Unpack(tmp_.Sub("n" + std::to_string(len)))) << len;
    }
  }
}

TEST_F(ArchiveReaderTest, NonEmptyTargetIsRefusedAndUntouched) {
  std::string target = tmp_.Sub("busy");
  WriteFile(target + "/precious", "keep me");
  auto r = Unpack(target);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Status::Code::kConflict);
  EXPECT_EQ(ReadFile(target + "/precious"), "keep me");
  EXPECT_FALSE(fs::exists(target + "/db"));
}

// --- hand-made archives: what our writer never produces ---------------------

struct Entry {
  std::string path;
  std::string data;
  mode_t type = AE_IFREG;
  std::string link;
};

std::string MakeTar(const std::vector<Entry>& entries) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* client, const void* buf, size_t len) -> la_ssize_t {
        static_cast<std::string*>(client)->append(static_cast<const char*>(buf), len);
        return static_cast<la_ssize_t>(len);
      },
      nullptr);
  for (const Entry& e : entries) {
    struct archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_filetype(ae, e.type);
    archive_entry_set_perm(ae, 0644);
    if (!e.link.empty()) archive_entry_set_symlink(ae, e.link.c_str());
    archive_entry_set_size(ae, static_cast<la_int64_t>(e.data.size()));
    archive_write_header(a, ae);
    if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

Entry ManifestEntry(const std::vector<std::pair<std::string, std::string>>& files) {
  Manifest m;
  m.snapshot_lsn = 7;
  m.created_at = "2026-11-22T00:00:00Z";
  m.server_version = "t";
  for (const auto& [path, data] : files) m.files.push_back({path, data.size(), Sha256::Hex(data)});
  return {std::string(kManifestName), m.ToJson()};
}

class CraftedArchiveTest : public ::testing::Test {
 protected:
  Status Read(const std::vector<Entry>& entries) {
    testing::WriteFile(tmp_.Sub("x.tar"), MakeTar(entries));
    target_ = tmp_.Sub("out" + std::to_string(n_++));
    auto r = ReadSnapshotArchiveFile(tmp_.Sub("x.tar"), {target_, ""});
    EXPECT_TRUE(DirIsEmpty(target_) || r) << target_;
    return r ? Status::OK() : r.error();
  }
  TempDir tmp_;
  std::string target_;
  int n_ = 0;
};

TEST_F(CraftedArchiveTest, WellFormedArchivePasses) {
  Status s = Read({ManifestEntry({{"db/a", "aaa"}}), {"db/", "", AE_IFDIR}, {"db/a", "aaa"}});
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadFile(target_ + "/db/a"), "aaa");
}

TEST_F(CraftedArchiveTest, PathTraversalIsRefused) {
  for (const char* bad : {"../evil", "db/../../evil", "/tmp/evil", "./db/a"}) {
    Status s = Read({ManifestEntry({{"db/a", "aaa"}}), {"db/a", "aaa"}, {bad, "x"}});
    EXPECT_TRUE(s.IsCorruption()) << bad << ": " << s.ToString();
  }
  EXPECT_FALSE(fs::exists(tmp_.Sub("evil")));
  // ...and in the manifest itself.
  EXPECT_TRUE(Read({ManifestEntry({{"../evil", "x"}}), {"../evil", "x"}}).IsCorruption());
}

TEST_F(CraftedArchiveTest, ExtraMissingDuplicateOrMismatchedFilesAreRefused) {
  Entry m = ManifestEntry({{"db/a", "aaa"}, {"db/b", "bbb"}});
  EXPECT_TRUE(Read({m, {"db/a", "aaa"}}).IsCorruption());  // missing
  EXPECT_TRUE(Read({m, {"db/a", "aaa"}, {"db/b", "bbb"}, {"db/c", "c"}}).IsCorruption());  // extra
  EXPECT_TRUE(Read({m, {"db/a", "aaa"}, {"db/b", "bbb"}, {"db/a", "aaa"}}).IsCorruption());
  EXPECT_TRUE(Read({m, {"db/a", "aaa"}, {"db/b", "bbX"}}).IsCorruption());   // sha256
  EXPECT_TRUE(Read({m, {"db/a", "aaa"}, {"db/b", "bbbb"}}).IsCorruption());  // size
  EXPECT_TRUE(Read({m, {"db/a", "aaa"}, {"db/b", "bbb"}}).ok());
}

TEST_F(CraftedArchiveTest, ManifestMustComeFirstAndLinksAreRefused) {
  EXPECT_TRUE(Read({{"db/a", "aaa"}, ManifestEntry({{"db/a", "aaa"}})}).IsCorruption());
  EXPECT_TRUE(Read({}).IsCorruption());
  EXPECT_TRUE(Read({ManifestEntry({}), {"db/l", "", AE_IFLNK, "/etc/passwd"}}).IsCorruption());
  EXPECT_FALSE(fs::exists(target_ + "/db/l"));
}

TEST(ManifestTest, ParseRejectsBadManifests) {
  Manifest m;
  m.snapshot_lsn = 9;
  m.files.push_back({"db/a", 3, Sha256::Hex("aaa")});
  auto ok = Manifest::Parse(m.ToJson());
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->snapshot_lsn, 9u);
  EXPECT_EQ(ok->files.at(0).sha256, Sha256::Hex("aaa"));
  EXPECT_FALSE(Manifest::Parse("{"));
  EXPECT_FALSE(Manifest::Parse(R"({"format_version":2,"snapshot_lsn":1,"created_at":"",
      "server_version":"","files":[]})"));
  m.files.push_back(m.files[0]);
  EXPECT_FALSE(Manifest::Parse(m.ToJson()));  // duplicate
  m.files.pop_back();
  m.files[0].sha256 = "ABC";
  EXPECT_FALSE(Manifest::Parse(m.ToJson()));
}

TEST(ManifestTest, SafePaths) {
  EXPECT_TRUE(IsSafeArchivePath("db/000001.sst"));
  EXPECT_TRUE(IsSafeArchivePath("wal/"));
  for (const char* bad : {"", "/", "/db", "..", "../x", "db/../x", "db//x", "./x", "db\\x"}) {
    EXPECT_FALSE(IsSafeArchivePath(bad)) << bad;
  }
}

}  // namespace
}  // namespace stemedb::backup
