// WalArchiver against a real Wal and real rclone with a local remote: every
// sealed segment reaches REMOTE:PATH/wal/ under its LSN range with a correct
// sidecar, byte-identical to the local segment up to its last record; the
// active segment is sealed by age; nothing is purged before it is archived;
// a remote that is down keeps segments local and counts failures, and the
// archive is continuous once it comes back.
#include "backup/wal_archiver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "backup/child_process.h"
#include "backup/remote_backup.h"
#include "backup/sha256.h"
#include "backup/wal_archive.h"
#include "tests/backup/backup_test_util.h"
#include "wal/log_format.h"
#include "wal/segment_scan.h"

namespace stemedb::backup {
namespace {

using testing::ServeWebdav;
using testing::TempDir;
namespace fs = std::filesystem;

std::unique_ptr<wal::Wal> OpenWal(const std::string& dir) {
  wal::WalOptions o;
  o.dir = dir;
  o.segment_bytes = 8192;  // many small segments
  o.hold_unarchived = true;
  auto w = wal::Wal::Open(o, nullptr);
  EXPECT_TRUE(w) << w.error().ToString();
  return w ? std::move(*w) : nullptr;
}

void AppendRecords(wal::Wal& w, int n, int seed) {
  for (int i = 0; i < n; ++i) {
    auto r = w.Append("record-" + std::to_string(seed) + "-" + std::to_string(i) +
                      std::string(static_cast<size_t>(100 + i % 300), 'x'));
    ASSERT_TRUE(r) << r.error().ToString();
  }
}

WalArchiverOptions Options(const std::string& remote, const std::string& wal_dir) {
  WalArchiverOptions o;
  o.remote = remote;
  o.wal_dir = wal_dir;
  o.interval = std::chrono::milliseconds(50);
  o.retry_min = std::chrono::milliseconds(50);
  o.retry_max = std::chrono::milliseconds(200);
  return o;
}

// Waits (bounded) until `pred`; the test then asserts on the state.
template <typename Pred>
bool WaitFor(Pred pred) {
  for (int i = 0; i < 600 && !pred(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// The archive is one chain from `first` to `last`, and every object equals
// the local bytes up to the last record, with a matching sidecar.
void ExpectContinuousArchive(const std::string& remote, uint64_t first, uint64_t last,
                             const std::string& wal_dir, bool compare_local) {
  Rclone rclone;
  auto list = ListArchivedSegments(rclone, remote);
  ASSERT_TRUE(list) << list.error().ToString();
  ASSERT_FALSE(list->empty());
  EXPECT_EQ(list->front().first_lsn, first);
  EXPECT_EQ(list->back().last_lsn, last);
  TempDir fetched;
  for (size_t i = 0; i < list->size(); ++i) {
    const ArchivedSegment& seg = (*list)[i];
    if (i > 0) {
      EXPECT_EQ(seg.first_lsn, (*list)[i - 1].last_lsn + 1) << seg.name;
    }
    const std::string local = fetched.Sub(seg.name);
    Status s = FetchArchivedSegment(rclone, Env::Default(), remote, seg, local);
    ASSERT_TRUE(s.ok()) << s.ToString();
    if (!compare_local) continue;
    wal::SegmentScan scan;
    ASSERT_TRUE(
        wal::ScanSegment(Env::Default(), wal_dir, wal::SegmentFileName(seg.first_lsn), &scan).ok());
    std::string mine = testing::ReadFile(wal::JoinPath(wal_dir, scan.name));
    mine.resize(scan.valid_end);
    EXPECT_EQ(testing::ReadFile(local), mine) << seg.name;
    EXPECT_EQ(scan.last_lsn, seg.last_lsn) << seg.name;
  }
}

class WalArchiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("RCLONE_CONFIG_TESTREMOTE_TYPE", "local", 1);
    ::setenv("RCLONE_CONFIG", tmp_.Sub("no-rclone.conf").c_str(), 1);
  }
  TempDir tmp_;
};

TEST_F(WalArchiverTest, EverySegmentArchivedUnderItsRangeAndActiveSealedByAge) {
  const std::string wal_dir = tmp_.Sub("wal");
  const std::string remote = "testremote:" + tmp_.Sub("remote");
  auto w = OpenWal(wal_dir);
  ASSERT_NE(w, nullptr);
  AppendRecords(*w, 200, 1);  // several sealed segments, and an active one
  ASSERT_GT(w->SealedSegments().size(), 2u);
  const uint64_t last = w->last_lsn().value();

  // Nothing archived yet: the purge keeps everything, whatever is covered.
  const size_t before = w->SegmentFiles().size();
  ASSERT_TRUE(w->PurgeObsoleteSegments(Lsn(last), 0).ok());
  EXPECT_EQ(w->SegmentFiles().size(), before);

  WalArchiver archiver(w.get(), Options(remote, wal_dir));
  ASSERT_TRUE(archiver.Start().ok());
  // The active segment's records too: it is sealed once they are 50 ms old.
  ASSERT_TRUE(WaitFor([&] { return archiver.stats().archived_lsn == last; }))
      << archiver.stats().archived_lsn << " of " << last << ": " << archiver.stats().last_error;
  EXPECT_EQ(archiver.stats().failures, 0u);
  ExpectContinuousArchive(remote, 1, last, wal_dir, true);
  // No .partial left, and every object has its sidecar.
  Rclone rclone;
  auto files = rclone.ListFiles(WalArchiveRemote(remote));
  ASSERT_TRUE(files);
  size_t objects = 0, sidecars = 0;
  for (const std::string& f : *files) {
    EXPECT_EQ(f.find(".partial"), std::string::npos) << f;
    objects += ParseArchivedSegmentName(f).has_value();
    sidecars += f.ends_with(".wal.sha256");
  }
  EXPECT_EQ(objects, sidecars);

  // More writes keep flowing into the archive.
  AppendRecords(*w, 50, 2);
  const uint64_t last2 = w->last_lsn().value();
  ASSERT_TRUE(WaitFor([&] { return archiver.stats().archived_lsn == last2; }));
  archiver.Stop();
  ExpectContinuousArchive(remote, 1, last2, wal_dir, true);
  // Archived segments may go now.
  ASSERT_TRUE(w->PurgeObsoleteSegments(Lsn(last2), 0).ok());
  EXPECT_EQ(w->SealedSegments().size(), 0u);
  EXPECT_EQ(archiver.stats().lag_seconds, 0);
}

TEST_F(WalArchiverTest, RemoteDownKeepsSegmentsCountsFailuresAndCatchesUp) {
  const std::string wal_dir = tmp_.Sub("wal");
  // A regular file where the remote's parent directory should be: every
  // rclone command fails until it is replaced by a directory.
  const std::string blocker = tmp_.Sub("blocker");
  testing::WriteFile(blocker, "not a directory");
  const std::string remote = "testremote:" + blocker + "/remote";
  auto w = OpenWal(wal_dir);
  ASSERT_NE(w, nullptr);
  WalArchiver archiver(w.get(), Options(remote, wal_dir));
  ASSERT_TRUE(archiver.Start().ok());
  AppendRecords(*w, 150, 3);
  const uint64_t last = w->last_lsn().value();
  ASSERT_TRUE(WaitFor([&] { return archiver.stats().failures >= 3; }));
  WalArchiverStats down = archiver.stats();
  EXPECT_EQ(down.archived_lsn, 0u);
  EXPECT_FALSE(down.last_error.empty());
  ASSERT_TRUE(WaitFor([&] { return archiver.stats().lag_seconds > 0.2; }));
  EXPECT_GT(archiver.stats().lag_bytes, 0u);
  // Flushed-and-covered or not: nothing unarchived is purged.
  const size_t segments = w->SegmentFiles().size();
  ASSERT_TRUE(w->PurgeObsoleteSegments(Lsn(last), 0).ok());
  EXPECT_EQ(w->SegmentFiles().size(), segments);
  for (const std::string& name : w->SegmentFiles()) {
    EXPECT_TRUE(fs::exists(wal::JoinPath(wal_dir, name))) << name;
  }

  // The remote comes back.
  fs::remove(blocker);
  fs::create_directories(blocker);
  AppendRecords(*w, 30, 4);
  const uint64_t last2 = w->last_lsn().value();
  ASSERT_TRUE(WaitFor([&] { return archiver.stats().archived_lsn == last2; }))
      << archiver.stats().last_error;
  EXPECT_TRUE(archiver.stats().last_error.empty());
  ASSERT_TRUE(WaitFor([&] { return archiver.stats().lag_seconds == 0; }));
  archiver.Stop();
  ExpectContinuousArchive(remote, 1, last2, wal_dir, true);
}

TEST_F(WalArchiverTest, StopShipsTheActiveSegment) {
  const std::string wal_dir = tmp_.Sub("wal");
  const std::string remote = "testremote:" + tmp_.Sub("remote");
  auto w = OpenWal(wal_dir);
  ASSERT_NE(w, nullptr);
  WalArchiverOptions o = Options(remote, wal_dir);
  o.interval = std::chrono::hours(1);  // never by age: only the last pass seals
  WalArchiver archiver(w.get(), o);
  ASSERT_TRUE(archiver.Start().ok());
  AppendRecords(*w, 5, 5);
  archiver.Stop();
  EXPECT_EQ(archiver.stats().archived_lsn, 5u);
  ExpectContinuousArchive(remote, 1, 5, wal_dir, true);
}

// A crash right after a seal, before the new segment's header was written:
// the WAL reopens the archived segment and appends to it. The longer
// segment is archived too and supersedes the shorter one.
TEST_F(WalArchiverTest, SegmentReopenedAfterACrashSupersedesItsArchivedPrefix) {
  const std::string wal_dir = tmp_.Sub("wal");
  const std::string remote = "testremote:" + tmp_.Sub("remote");
  {
    auto w = OpenWal(wal_dir);
    ASSERT_NE(w, nullptr);
    AppendRecords(*w, 5, 8);
    WalArchiverOptions o = Options(remote, wal_dir);
    o.interval = std::chrono::hours(1);
    WalArchiver archiver(w.get(), o);
    ASSERT_TRUE(archiver.Start().ok());
    archiver.Stop();  // seals 1..5 and archives it
    ASSERT_EQ(archiver.stats().archived_lsn, 5u);
    ASSERT_TRUE(w->Close().ok());
  }
  // The new segment's header never reached the disk.
  const std::string empty_active = wal::JoinPath(wal_dir, wal::SegmentFileName(6));
  ASSERT_TRUE(fs::exists(empty_active));
  fs::remove(empty_active);
  auto w = OpenWal(wal_dir);
  ASSERT_NE(w, nullptr);
  ASSERT_EQ(w->SealedSegments().size(), 0u);  // 1..5 is the active segment again
  AppendRecords(*w, 3, 9);
  WalArchiver archiver(w.get(), Options(remote, wal_dir));
  ASSERT_TRUE(archiver.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return archiver.stats().archived_lsn == 8; }))
      << archiver.stats().last_error;
  archiver.Stop();
  EXPECT_EQ(archiver.stats().failures, 0u);
  ExpectContinuousArchive(remote, 1, 8, wal_dir, true);
  Rclone rclone;
  auto list = ListArchivedSegments(rclone, remote);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().name, ArchivedSegmentName(1, 8));
}

TEST_F(WalArchiverTest, ArchiveAheadOfTheLogIsAnotherHistoryAndRefused) {
  const std::string remote = "testremote:" + tmp_.Sub("remote");
  {
    auto w = OpenWal(tmp_.Sub("wal-a"));
    ASSERT_NE(w, nullptr);
    WalArchiver archiver(w.get(), Options(remote, tmp_.Sub("wal-a")));
    ASSERT_TRUE(archiver.Start().ok());
    AppendRecords(*w, 20, 6);
    archiver.Stop();
    ASSERT_EQ(archiver.stats().archived_lsn, 20u);
  }
  // Another log that has written less (a store restored to an earlier point).
  auto w = OpenWal(tmp_.Sub("wal-b"));
  ASSERT_NE(w, nullptr);
  AppendRecords(*w, 5, 7);
  WalArchiver archiver(w.get(), Options(remote, tmp_.Sub("wal-b")));
  ASSERT_TRUE(archiver.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return archiver.stats().failures >= 1; }));
  archiver.Stop();
  EXPECT_NE(archiver.stats().last_error.find("another history"), std::string::npos)
      << archiver.stats().last_error;
  Rclone rclone;
  auto list = ListArchivedSegments(rclone, remote);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->back().last_lsn, 20u);  // untouched
  for (const auto& s : *list) EXPECT_EQ(s.first_lsn == 1 && s.last_lsn == 5, false) << s.name;
}

// Retention keeps every segment a base backup newer than the cutoff (or the
// newest one at or before it) needs, and deletes the rest with their sidecars.
TEST_F(WalArchiverTest, PruneKeepsWhatTheBasesNeed) {
  const std::string wal_dir = tmp_.Sub("wal");
  const std::string remote = "testremote:" + tmp_.Sub("remote");
  Rclone rclone;
  auto none = PruneArchive(rclone, remote, std::chrono::system_clock::now());
  EXPECT_FALSE(none);  // no base backup: nothing to prune against
  auto w = OpenWal(wal_dir);
  ASSERT_NE(w, nullptr);
  {
    WalArchiver archiver(w.get(), Options(remote, wal_dir));
    ASSERT_TRUE(archiver.Start().ok());
    AppendRecords(*w, 200, 12);
    archiver.Stop();
    ASSERT_EQ(archiver.stats().archived_lsn, 200u);
  }
  auto segs = ListArchivedSegments(rclone, remote);
  ASSERT_TRUE(segs);
  ASSERT_GE(segs->size(), 5u);
  // Bases are only looked at by name here: ten days old at the end of the
  // second segment, one day old inside the fourth.
  const auto now = std::chrono::system_clock::now();
  const uint64_t old_lsn = (*segs)[1].last_lsn, new_lsn = (*segs)[3].first_lsn + 1;
  ASSERT_LT(new_lsn, (*segs)[3].last_lsn);
  for (auto [age, lsn] : {std::pair{24 * 10, old_lsn}, std::pair{24, new_lsn}}) {
    const std::string name = MakeBackupName(now - std::chrono::hours(age), lsn);
    ASSERT_TRUE(rclone.RcatString(JoinRemote(remote, name), "base").ok());
  }
  auto week = PruneArchive(rclone, remote, now - std::chrono::hours(24 * 7));
  ASSERT_TRUE(week) << week.error().ToString();
  EXPECT_EQ(week->floor_lsn, old_lsn);
  EXPECT_EQ(week->deleted, (std::vector<std::string>{(*segs)[0].name, (*segs)[1].name}));
  auto files = rclone.ListFiles(WalArchiveRemote(remote));
  ASSERT_TRUE(files);
  for (const std::string& f : *files) {
    EXPECT_EQ(f.find((*segs)[0].name), std::string::npos) << f;  // sidecar gone too
  }
  auto again = PruneArchive(rclone, remote, now - std::chrono::hours(24 * 7));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->deleted.empty());
  // Keep nothing older than now: the newest base sets the floor; the
  // segment holding its next LSN stays.
  auto all = PruneArchive(rclone, remote, now);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->floor_lsn, new_lsn);
  EXPECT_EQ(all->deleted, (std::vector<std::string>{(*segs)[2].name}));
  auto left = ListArchivedSegments(rclone, remote);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->front().name, (*segs)[3].name);
  EXPECT_EQ(left->back().last_lsn, 200u);
}

// A loopback TCP port that was free a moment ago.
uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The same over a network remote (WebDAV on loopback) that is stopped while
// writes go on and started again.
TEST_F(WalArchiverTest, NetworkRemoteGoesAwayAndComesBack) {
  const uint16_t port = FreePort();
  ::setenv("RCLONE_CONFIG_DAV_TYPE", "webdav", 1);
  ::setenv("RCLONE_CONFIG_DAV_URL", ("http://127.0.0.1:" + std::to_string(port)).c_str(), 1);
  const std::string served = tmp_.Sub("served");
  fs::create_directories(served);
  auto dav = ServeWebdav(served, port);
  ASSERT_NE(dav, nullptr);
  const std::string wal_dir = tmp_.Sub("wal");
  const std::string remote = "dav:backups";
  auto w = OpenWal(wal_dir);
  ASSERT_NE(w, nullptr);
  WalArchiverOptions o = Options(remote, wal_dir);
  o.rclone.extra_args = DefaultArchiverRcloneArgs();
  WalArchiver archiver(w.get(), o);
  ASSERT_TRUE(archiver.Start().ok());
  AppendRecords(*w, 60, 10);
  ASSERT_TRUE(WaitFor([&] { return archiver.stats().archived_lsn == 60; }))
      << archiver.stats().last_error;

  dav.reset();  // killed: connections refused from now on
  AppendRecords(*w, 60, 11);
  const uint64_t failures = archiver.stats().failures;
  ASSERT_TRUE(WaitFor([&] { return archiver.stats().failures > failures; }));
  EXPECT_EQ(archiver.stats().archived_lsn, 60u);
  ASSERT_TRUE(w->PurgeObsoleteSegments(Lsn(120), 0).ok());
  EXPECT_EQ(w->SealedSegments().front().first_lsn.value(), 61u);  // 61.. kept

  dav = ServeWebdav(served, port);
  ASSERT_NE(dav, nullptr);
  ASSERT_TRUE(WaitFor([&] { return archiver.stats().archived_lsn == 120; }))
      << archiver.stats().last_error;
  archiver.Stop();
  ExpectContinuousArchive(remote, 1, 120, wal_dir, false);
  // The objects are on the WebDAV server's disk, under their final names.
  size_t stored = 0;
  for (const auto& e : fs::directory_iterator(served + "/backups/wal")) {
    stored += ParseArchivedSegmentName(e.path().filename().string()).has_value();
  }
  EXPECT_GT(stored, 2u);
}

}  // namespace
}  // namespace stemedb::backup
