// The rclone driver and the upload/verify/restore protocol, against real
// rclone with a local remote.
#include "backup/remote_backup.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "backup/sha256.h"
#include "stemectl/backup_command.h"
#include "tests/backup/backup_test_util.h"
#include "tests/util/dir_listing.h"

namespace stemedb::backup {
namespace {

using testing::DirIsEmpty;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
namespace fs = std::filesystem;

std::vector<std::string> Names(const std::string& dir) { return stemedb::testing::DirNames(dir); }

class RemoteBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("RCLONE_CONFIG_TESTREMOTE_TYPE", "local", 1);
    ::setenv("RCLONE_CONFIG", tmp_.Sub("no-rclone.conf").c_str(), 1);
    remote_disk_ = tmp_.Sub("remote");
    remote_ = "testremote:" + remote_disk_;
    testing::MakeFakeCheckpoint(tmp_.Sub("ckpt"));
    archive_ = tmp_.Sub("snap.tar");
    ASSERT_GT(testing::ArchiveToFile(tmp_.Sub("ckpt"), 42, archive_), 0u);
  }

  // Streams the local archive as the server would.
  ArchiveProducer FileProducer(uint64_t stop_after = UINT64_MAX, Status fail_with = Status::OK()) {
    return [this, stop_after, fail_with](const ChunkSink& sink) -> Status {
      std::string data = ReadFile(archive_);
      uint64_t sent = 0;
      while (sent < data.size()) {
        if (sent >= stop_after) return fail_with;
        size_t n = std::min<uint64_t>(256 << 10, data.size() - sent);
        STEMEDB_RETURN_IF_ERROR(sink(std::string_view(data).substr(sent, n)));
        sent += n;
      }
      return Status::OK();
    };
  }

  Result<RestoreResult> Restore(const std::string& object, const std::string& data_dir) {
    RestoreOptions options;
    options.remote_object = object;
    options.target = RestoreTarget::InDataDir(data_dir);
    return RestoreBackup(rclone_, options);
  }

  // Nothing the server would start from: no DB dir content, no scratch.
  static bool NothingRestored(const std::string& data_dir) {
    return !fs::exists(data_dir + "/db") && !fs::exists(RestoreScratchPath(data_dir + "/db"));
  }

  Result<UploadResult> Upload(size_t keep = 0, int second = 0) {
    UploadOptions options;
    options.remote_dir = remote_;
    options.keep = keep;
    options.now = std::chrono::system_clock::from_time_t(1795000000 + second);
    return UploadBackup(rclone_, FileProducer(), options);
  }

  TempDir tmp_;
  std::string remote_disk_, remote_, archive_;
  Rclone rclone_;
};

TEST_F(RemoteBackupTest, UploadWritesVerifiedObjectAndSidecarOnly) {
  auto r = Upload();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->snapshot_lsn, 42u);
  EXPECT_EQ(r->name, "stemedb-20261118T110640Z-lsn42.tar");
  EXPECT_EQ(r->sha256, Sha256::Hex(ReadFile(archive_)));
  EXPECT_EQ(Names(remote_disk_), (std::vector<std::string>{r->name, r->name + ".sha256"}));
  EXPECT_EQ(ReadFile(remote_disk_ + "/" + r->name), ReadFile(archive_));
  EXPECT_EQ(ReadFile(remote_disk_ + "/" + r->name + ".sha256"), r->sha256 + "  " + r->name + "\n");

  auto list = ListBackups(rclone_, remote_);
  ASSERT_TRUE(list) << list.error().ToString();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->at(0).lsn, 42u);

  auto verified = VerifyBackup(rclone_, r->remote);
  ASSERT_TRUE(verified) << verified.error().ToString();
  EXPECT_EQ(verified->manifest.snapshot_lsn, 42u);

  std::string target = tmp_.Sub("restored");
  auto restored = Restore(r->remote, target);
  ASSERT_TRUE(restored) << restored.error().ToString();
  EXPECT_EQ(restored->remote, r->remote);
  EXPECT_EQ(ReadFile(target + "/db/000009.sst"), ReadFile(tmp_.Sub("ckpt/000009.sst")));
  EXPECT_TRUE(DirIsEmpty(target + "/wal"));
  EXPECT_EQ(restored->outcome.marker.sha256, r->sha256);
}

TEST_F(RemoteBackupTest, LatestRestoresTheNewestCompleteBackupAndRetriesAreDone) {
  auto old = Upload(0, 0);
  auto newest = Upload(0, 3600);
  ASSERT_TRUE(old && newest);
  // A leftover of a killed upload is newer by name, but not a backup.
  WriteFile(remote_disk_ + "/stemedb-20261118T130000Z.tar.partial", "half");
  RestoreOptions options;
  options.latest_in = remote_;
  options.target = {.wal_dir = tmp_.Sub("wal"), .db_dir = tmp_.Sub("db/rocksdb")};
  auto r = RestoreBackup(rclone_, options);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->remote, newest->remote);
  EXPECT_FALSE(r->outcome.already_restored);

  // A retry after a newer backup appeared: the finished restore stands.
  ASSERT_TRUE(Upload(0, 7200));
  auto again = RestoreBackup(rclone_, options);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(again->outcome.already_restored);
  EXPECT_EQ(again->remote, newest->remote);

  // The same object by name is "already restored" too; another is refused.
  options.latest_in.clear();
  options.remote_object = newest->remote;
  EXPECT_TRUE(RestoreBackup(rclone_, options)->outcome.already_restored);
  options.remote_object = old->remote;
  auto other = RestoreBackup(rclone_, options);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), Status::Code::kConflict);

  options.remote_object.clear();
  options.latest_in = remote_ + "/empty";
  options.target = RestoreTarget::InDataDir(tmp_.Sub("d2"));
  auto none = RestoreBackup(rclone_, options);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Status::Code::kNotFound) << none.error().ToString();
}

TEST_F(RemoteBackupTest, KeepThreeAfterFiveRunsLeavesExactlyTheThreeNewest) {
  std::vector<std::string> made;
  for (int i = 0; i < 5; ++i) {
    auto r = Upload(3, i * 3600);
    ASSERT_TRUE(r) << r.error().ToString();
    made.push_back(r->name);
    if (i == 3) {
      EXPECT_EQ(r->pruned, std::vector<std::string>{made[0]});
    }
  }
  auto list = ListBackups(rclone_, remote_);
  ASSERT_TRUE(list);
  std::vector<std::string> left;
  for (const auto& b : *list) left.push_back(b.name);
  EXPECT_EQ(left, (std::vector<std::string>{made[2], made[3], made[4]}));
  EXPECT_EQ(Names(remote_disk_).size(), 6u);  // three archives, three sidecars
}

TEST_F(RemoteBackupTest, FlippedByteOrTruncationInTheRemoteIsDetected) {
  auto r = Upload();
  ASSERT_TRUE(r) << r.error().ToString();
  const std::string object = remote_disk_ + "/" + r->name;
  const std::string good = ReadFile(object);

  testing::FlipByte(object, good.size() / 2);
  auto v = VerifyBackup(rclone_, r->remote);
  ASSERT_FALSE(v);
  EXPECT_TRUE(v.error().IsCorruption()) << v.error().ToString();
  std::string target = tmp_.Sub("t1");
  auto restored = Restore(r->remote, target);
  ASSERT_FALSE(restored);
  EXPECT_TRUE(restored.error().IsCorruption()) << restored.error().ToString();
  EXPECT_TRUE(NothingRestored(target));

  WriteFile(object, good.substr(0, good.size() - 700));
  v = VerifyBackup(rclone_, r->remote);
  ASSERT_FALSE(v);
  EXPECT_TRUE(v.error().IsCorruption()) << v.error().ToString();
  target = tmp_.Sub("t2");
  restored = Restore(r->remote, target);
  ASSERT_FALSE(restored);
  EXPECT_TRUE(NothingRestored(target));

  WriteFile(object, good);
  EXPECT_TRUE(VerifyBackup(rclone_, r->remote));
  fs::remove(object + ".sha256");
  EXPECT_FALSE(VerifyBackup(rclone_, r->remote));  // no sidecar, no trust
}

TEST_F(RemoteBackupTest, FailedOrGarbageStreamLeavesNothingThatLooksComplete) {
  UploadOptions options;
  options.remote_dir = remote_;
  auto r = UploadBackup(rclone_, FileProducer(1 << 20, Status::Unavailable("server went away")),
                        options);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("server went away"), std::string::npos);
  EXPECT_TRUE(Names(remote_disk_).empty()) << Names(remote_disk_).size();

  r = UploadBackup(
      rclone_, [](const ChunkSink& sink) { return sink(testing::RandomBytes(100000, 9)); },
      options);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().IsCorruption()) << r.error().ToString();
  EXPECT_TRUE(Names(remote_disk_).empty());
}

TEST_F(RemoteBackupTest, RcloneErrorsCarryRclonesOwnMessage) {
  Rclone rclone;
  auto files = rclone.ListFiles("nosuchremote:/x");
  ASSERT_FALSE(files);
  // rclone's own words (from its stderr), not just our command line.
  EXPECT_NE(files.error().message().find("didn't find section in config file"), std::string::npos)
      << files.error().ToString();
  EXPECT_NE(files.error().message().find("exit"), std::string::npos);
  Rclone missing({.binary = "/nonexistent/rclone", .extra_args = {}});
  EXPECT_FALSE(missing.ListFiles(remote_));
  // A missing directory is an empty listing, not an error.
  auto empty = rclone.ListFiles(remote_ + "/never-created");
  ASSERT_TRUE(empty) << empty.error().ToString();
  EXPECT_TRUE(empty->empty());
}

TEST_F(RemoteBackupTest, RestoreRefusesNonEmptyTarget) {
  auto r = Upload();
  ASSERT_TRUE(r);
  std::string target = tmp_.Sub("busy");
  WriteFile(target + "/db/x", "mine");
  auto restored = Restore(r->remote, target);
  ASSERT_FALSE(restored);
  EXPECT_EQ(restored.error().code(), Status::Code::kConflict);
  EXPECT_EQ(Names(target), std::vector<std::string>{"db"});
  EXPECT_EQ(Names(target + "/db"), std::vector<std::string>{"x"});
}

TEST_F(RemoteBackupTest, CommandExitCodes) {
  using ctl::RunBackupCommand;
  EXPECT_EQ(RunBackupCommand({"backup"}), 2);  // no --remote
  EXPECT_EQ(RunBackupCommand({"backup", "--help"}), 0);
  EXPECT_EQ(RunBackupCommand({"restore", "--remote", remote_}), 2);  // no --data-dir
  EXPECT_EQ(RunBackupCommand({"restore", "--remote", remote_, "--wal-dir", tmp_.Sub("w")}), 2);
  EXPECT_EQ(RunBackupCommand({"restore", "--remote", remote_, "--data-dir", tmp_.Sub("d"),
                              "--wal-dir", tmp_.Sub("w"), "--db-dir", tmp_.Sub("b")}),
            2);
  EXPECT_EQ(RunBackupCommand({"restore", "--latest", "--data-dir", tmp_.Sub("d")}), 2);
  EXPECT_EQ(RunBackupCommand({"restore", "--help"}), 0);
  EXPECT_EQ(RunBackupCommand({"backup", "--remote", remote_, "--keep", "0"}), 2);
  auto r = Upload();
  ASSERT_TRUE(r);
  EXPECT_EQ(RunBackupCommand({"backup", "list", "--remote", remote_}), 0);
  EXPECT_EQ(RunBackupCommand({"backup", "verify", "--remote", r->remote}), 0);
  std::string busy = tmp_.Sub("busy");
  WriteFile(busy + "/db/x", "mine");
  EXPECT_EQ(RunBackupCommand({"restore", "--remote", r->remote, "--data-dir", busy}),
            ctl::kExitTargetNotEmpty);
  EXPECT_EQ(RunBackupCommand({"restore", "--remote=" + r->remote, "--data-dir=" + tmp_.Sub("ok")}),
            0);
  // Re-running a finished restore is "already restored", exit 0.
  EXPECT_EQ(RunBackupCommand({"restore", "--remote", r->remote, "--data-dir", tmp_.Sub("ok")}), 0);
  EXPECT_EQ(RunBackupCommand({"restore", "--latest", "--remote-dir", remote_, "--wal-dir",
                              tmp_.Sub("k/wal"), "--db-dir", tmp_.Sub("k/db/rocksdb")}),
            0);
  EXPECT_TRUE(fs::exists(tmp_.Sub("k/db/rocksdb/RESTORED")));
  testing::FlipByte(remote_disk_ + "/" + r->name, 5000);
  EXPECT_EQ(RunBackupCommand({"backup", "verify", "--remote", r->remote}), ctl::kExitBackupCorrupt);
}

TEST(BackupNameTest, FormatParseAndRemotePaths) {
  auto t = std::chrono::system_clock::from_time_t(1795000000);  // 2026-11-18T11:06:40Z
  std::string name = MakeBackupName(t, 123);
  EXPECT_EQ(name, "stemedb-20261118T110640Z-lsn123.tar");
  auto parsed = ParseBackupName(name);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->unix_seconds, 1795000000);
  EXPECT_EQ(parsed->lsn, 123u);
  for (const char* bad : {"stemedb-20261118T110640Z-lsn123.tar.sha256",
                          "stemedb-20261118T110640Z.tar.partial", "stemedb-x.tar", "other.tar"}) {
    EXPECT_FALSE(ParseBackupName(bad)) << bad;
  }
  EXPECT_EQ(JoinRemote("r:", "n"), "r:n");
  EXPECT_EQ(JoinRemote("r:a/b", "n"), "r:a/b/n");
  EXPECT_EQ(SplitRemote("r:a/b/n"), (std::pair<std::string, std::string>{"r:a/b", "n"}));
  EXPECT_EQ(SplitRemote("r:/n"), (std::pair<std::string, std::string>{"r:/", "n"}));
  EXPECT_EQ(SplitRemote("r:n"), (std::pair<std::string, std::string>{"r:", "n"}));
}

}  // namespace
}  // namespace stemedb::backup
