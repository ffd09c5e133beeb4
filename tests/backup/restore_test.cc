// RestoreSnapshot (backup/restore.h): the layout it writes, retries, and a
// failure injected at every directory-changing step. The SIGKILL version
// against the real binaries is tests/e2e/restore_kill_test.cc.
#include "backup/restore.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "backup/sha256.h"
#include "tests/backup/backup_test_util.h"
#include "tests/util/dir_listing.h"
#include "util/fault_injection_env.h"

namespace stemedb::backup {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
namespace fs = std::filesystem;

std::vector<std::string> Names(const std::string& dir) { return stemedb::testing::DirNames(dir); }

// Cuts the power (FaultInjectionEnv::Crash) just before the Nth
// directory-changing call (1-based); 0 never.
class CrashAtEnv : public EnvWrapper {
 public:
  CrashAtEnv(FaultInjectionEnv* fault, uint64_t n) : EnvWrapper(fault), fault_(fault), n_(n) {}
  uint64_t ops() const { return ops_; }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    Step();
    return EnvWrapper::NewWritableFile(p);
  }
  Status RemoveFile(const std::string& p) override {
    Step();
    return EnvWrapper::RemoveFile(p);
  }
  Status RenameFile(const std::string& f, const std::string& t) override {
    Step();
    return EnvWrapper::RenameFile(f, t);
  }
  Result<bool> CreateDir(const std::string& d) override {
    Step();
    return EnvWrapper::CreateDir(d);
  }
  Status SyncDir(const std::string& d) override {
    Step();
    return EnvWrapper::SyncDir(d);
  }

 private:
  void Step() {
    if (++ops_ == n_) fault_->Crash();
  }
  FaultInjectionEnv* fault_;
  const uint64_t n_;
  uint64_t ops_ = 0;
};

// Fails the Nth directory-changing call (1-based) with IOError; 0 never.
class FailNthEnv : public EnvWrapper {
 public:
  explicit FailNthEnv(uint64_t n) : EnvWrapper(Env::Default()), n_(n) {}
  uint64_t ops() const { return ops_; }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    STEMEDB_RETURN_IF_ERROR(Step(p));
    return EnvWrapper::NewWritableFile(p);
  }
  Status RemoveFile(const std::string& p) override {
    STEMEDB_RETURN_IF_ERROR(Step(p));
    return EnvWrapper::RemoveFile(p);
  }
  Status RenameFile(const std::string& f, const std::string& t) override {
    STEMEDB_RETURN_IF_ERROR(Step(f));
    return EnvWrapper::RenameFile(f, t);
  }
  Result<bool> CreateDir(const std::string& d) override {
    STEMEDB_RETURN_IF_ERROR(Step(d));
    return EnvWrapper::CreateDir(d);
  }
  Status SyncDir(const std::string& d) override {
    STEMEDB_RETURN_IF_ERROR(Step(d));
    return EnvWrapper::SyncDir(d);
  }

 private:
  Status Step(const std::string& what) {
    if (++ops_ == n_) return Status::IOError("injected failure at " + what);
    return Status::OK();
  }
  const uint64_t n_;
  uint64_t ops_ = 0;
};

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::MakeFakeCheckpoint(tmp_.Sub("ckpt"));
    archive_ = tmp_.Sub("snap.tar");
    ASSERT_GT(testing::ArchiveToFile(tmp_.Sub("ckpt"), 42, archive_), 0u);
    sha_ = Sha256::Hex(ReadFile(archive_));
    // The deployment's shape: WAL on its own volume, RocksDB one level
    // below the DB volume's root.
    target_ = {.wal_dir = tmp_.Sub("wal"), .db_dir = tmp_.Sub("dbvol/rocksdb")};
  }

  ArchiveFetcher FileFetcher(const std::string& path) {
    return [path](const std::function<Status(const ArchiveSource&)>& consumer) -> Status {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Status::FromErrno("open " + path, errno);
      Status s = consumer([fd](char* buf, size_t n) -> Result<size_t> {
        ssize_t got = ::read(fd, buf, n);
        if (got < 0) return Status::FromErrno("read", errno);
        return static_cast<size_t>(got);
      });
      ::close(fd);
      return s;
    };
  }

  Result<RestoreOutcome> Restore(Env* env = Env::Default(), std::string sha = "") {
    RestoreRequest request;
    request.target = target_;
    request.backup = "testremote:/b/stemedb-20261118T110640Z-lsn42.tar";
    request.expected_sha256 = sha.empty() ? sha_ : sha;
    request.env = env;
    return RestoreSnapshot(request, FileFetcher(archive_));
  }

  // The whole snapshot, as the server will open it.
  void ExpectRestored() {
    for (const char* f :
         {"CURRENT", "MANIFEST-000005", "OPTIONS-000007", "000009.sst", "000010.sst"}) {
      // Digests, not contents: a failure prints two lines, not megabytes.
      EXPECT_EQ(Sha256::Hex(ReadFile(target_.db_dir + "/" + f)),
                Sha256::Hex(ReadFile(tmp_.Sub("ckpt/") + f)))
          << f;
    }
    EXPECT_TRUE(fs::exists(target_.db_dir + "/RESTORED"));
    EXPECT_TRUE(testing::DirIsEmpty(target_.wal_dir));
    EXPECT_FALSE(fs::exists(RestoreScratchPath(target_.db_dir)));
    EXPECT_TRUE(CheckNoInterruptedRestore(Env::Default(), target_.db_dir).ok());
  }

  TempDir tmp_;
  std::string archive_, sha_;
  RestoreTarget target_;
};

TEST_F(RestoreTest, WritesTheDeploymentLayoutWithAMarker) {
  auto r = Restore();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(r->already_restored);
  EXPECT_FALSE(r->removed_leftover);
  ASSERT_TRUE(r->summary);
  EXPECT_EQ(r->summary->manifest.snapshot_lsn, 42u);
  ExpectRestored();
  // Nothing else beside the DB dir but the lock the server also takes.
  EXPECT_EQ(Names(tmp_.Sub("dbvol")), (std::vector<std::string>{"LOCK", "rocksdb"}));
  auto marker = RestoredMarker::Parse(ReadFile(target_.db_dir + "/RESTORED"));
  ASSERT_TRUE(marker) << marker.error().ToString();
  EXPECT_EQ(marker->backup, "testremote:/b/stemedb-20261118T110640Z-lsn42.tar");
  EXPECT_EQ(marker->sha256, sha_);
  EXPECT_EQ(marker->snapshot_lsn, 42u);

  // The default layout under one data dir.
  EXPECT_EQ(RestoreTarget::InDataDir("/d").wal_dir, "/d/wal");
  EXPECT_EQ(RestoreTarget::InDataDir("/d").db_dir, "/d/db");
  EXPECT_EQ(RestoreScratchPath("/v/db/rocksdb/"), "/v/db/.rocksdb.restore-tmp");
}

TEST_F(RestoreTest, EmptyExistingDirsAndLostFoundAreEmpty) {
  fs::create_directories(target_.db_dir);
  fs::create_directories(target_.wal_dir + "/lost+found");
  auto r = Restore();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(Names(target_.wal_dir), std::vector<std::string>{"lost+found"});
}

TEST_F(RestoreTest, RetryOfAFinishedRestoreIsAlreadyRestoredAndTouchesNothing) {
  ASSERT_TRUE(Restore());
  const auto before = fs::last_write_time(target_.db_dir + "/RESTORED");
  auto again = Restore();
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(again->already_restored);
  EXPECT_FALSE(again->summary);
  EXPECT_EQ(fs::last_write_time(target_.db_dir + "/RESTORED"), before);
  ExpectRestored();

  // Another archive (other SHA-256) into the same target: refused.
  auto other = Restore(Env::Default(), std::string(64, 'a'));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), Status::Code::kConflict) << other.error().ToString();
  EXPECT_NE(other.error().message().find("holds another restored backup"), std::string::npos);

  // A marker that does not parse is the target's problem (exit 6), not the
  // backup's (exit 5).
  const std::string marker_text = ReadFile(target_.db_dir + "/RESTORED");
  WriteFile(target_.db_dir + "/RESTORED", "{");
  auto garbled = Restore();
  ASSERT_FALSE(garbled);
  EXPECT_EQ(garbled.error().code(), Status::Code::kConflict) << garbled.error().ToString();
  WriteFile(target_.db_dir + "/RESTORED", marker_text);

  // Once the server ran (the WAL dir holds a segment), the target is no
  // longer exactly the snapshot: refused, naming the file.
  WriteFile(target_.wal_dir + "/000001.log", "x");
  auto started = Restore();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code(), Status::Code::kConflict);
  EXPECT_NE(started.error().message().find("000001.log"), std::string::npos)
      << started.error().ToString();
}

TEST_F(RestoreTest, ForeignContentIsRefusedBeforeAnythingIsWritten) {
  WriteFile(target_.db_dir + "/CURRENT", "MANIFEST-000001\n");
  auto r = Restore();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Status::Code::kConflict);
  EXPECT_NE(r.error().message().find("CURRENT"), std::string::npos) << r.error().ToString();
  EXPECT_FALSE(fs::exists(target_.wal_dir));
  EXPECT_FALSE(fs::exists(RestoreScratchPath(target_.db_dir)));
  EXPECT_FALSE(fs::exists(tmp_.Sub("dbvol/LOCK")));

  fs::remove_all(tmp_.Sub("dbvol"));
  WriteFile(target_.wal_dir + "/000007.log", "old wal");
  r = Restore();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Status::Code::kConflict);
  EXPECT_NE(r.error().message().find("000007.log"), std::string::npos) << r.error().ToString();
  EXPECT_FALSE(fs::exists(tmp_.Sub("dbvol")));

  // Nested or equal directories are a usage error.
  target_ = {.wal_dir = tmp_.Sub("x"), .db_dir = tmp_.Sub("x/db")};
  r = Restore();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument);
}

TEST_F(RestoreTest, LeftoverScratchMakesTheServerRefuseAndIsRedoneOnRetry) {
  const std::string scratch = RestoreScratchPath(target_.db_dir);
  WriteFile(scratch + "/000009.sst", "half");
  fs::create_directories(target_.db_dir);  // a refused server start may create it
  Status refused = CheckNoInterruptedRestore(Env::Default(), target_.db_dir);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("interrupted restore"), std::string::npos);
  EXPECT_NE(refused.message().find("stemectl restore"), std::string::npos);

  auto r = Restore();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->removed_leftover);
  ExpectRestored();

  // A scratch beside a DB dir that someone filled meanwhile: refused.
  WriteFile(scratch + "/x", "half");
  auto again = Restore();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Status::Code::kConflict) << again.error().ToString();
}

TEST_F(RestoreTest, CorruptArchiveLeavesTheTargetAsItWas) {
  testing::FlipByte(archive_, ReadFile(archive_).size() / 2);
  auto r = Restore();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().IsCorruption()) << r.error().ToString();
  EXPECT_FALSE(fs::exists(target_.db_dir));
  EXPECT_FALSE(fs::exists(RestoreScratchPath(target_.db_dir)));
  EXPECT_TRUE(CheckNoInterruptedRestore(Env::Default(), target_.db_dir).ok());
}

// A failure at each directory-changing step in turn: the target holds the
// whole snapshot or nothing the server would start from, and a retry always
// finishes.
TEST_F(RestoreTest, FailureAtEveryStepIsAllOrNothingAndRetryFinishes) {
  FailNthEnv count(0);
  ASSERT_TRUE(Restore(&count));
  const uint64_t steps = count.ops();
  ASSERT_GT(steps, 10u);
  for (uint64_t n = 1; n <= steps; ++n) {
    SCOPED_TRACE("failing step " + std::to_string(n) + " of " + std::to_string(steps));
    fs::remove_all(tmp_.Sub("dbvol"));
    fs::remove_all(target_.wal_dir);
    FailNthEnv fail(n);
    auto r = Restore(&fail);
    if (r) {
      // Only the final directory sync can fail after the commit.
      ADD_FAILURE() << "step " << n << " did not fail the restore";
    } else if (fs::exists(target_.db_dir + "/RESTORED")) {
      ExpectRestored();  // failed after the rename: the whole snapshot
    } else {
      EXPECT_TRUE(!fs::exists(target_.db_dir) || fs::is_empty(target_.db_dir));
    }
    auto retry = Restore();
    ASSERT_TRUE(retry) << retry.error().ToString();
    ExpectRestored();
  }
}

// Power loss before each step in turn (what was not synced is dropped):
// the DB dir never shows a marker next to data that did not survive, a
// finished restore survives whole, and a retry after the reboot finishes.
TEST_F(RestoreTest, PowerLossAtEveryStepNeverShowsAPartialSnapshot) {
  uint64_t steps = 0;
  {
    FaultInjectionEnv fault;
    CrashAtEnv count(&fault, 0);
    auto r = Restore(&count);
    ASSERT_TRUE(r) << r.error().ToString();
    steps = count.ops();
    // Returned OK means durable.
    ASSERT_TRUE(fault.DropUnsyncedData().ok());
    ExpectRestored();
  }
  for (uint64_t n = 1; n <= steps; ++n) {
    SCOPED_TRACE("power lost before step " + std::to_string(n) + " of " + std::to_string(steps));
    fs::remove_all(tmp_.Sub("dbvol"));
    fs::remove_all(target_.wal_dir);
    FaultInjectionEnv fault;
    CrashAtEnv crash(&fault, n);
    EXPECT_FALSE(Restore(&crash));
    ASSERT_TRUE(fault.DropUnsyncedData().ok());
    if (fs::exists(target_.db_dir + "/RESTORED")) {
      ExpectRestored();
    } else {
      EXPECT_TRUE(!fs::exists(target_.db_dir) || fs::is_empty(target_.db_dir));
    }
    auto retry = Restore();
    ASSERT_TRUE(retry) << retry.error().ToString();
    ExpectRestored();
  }
}

}  // namespace
}  // namespace stemedb::backup
