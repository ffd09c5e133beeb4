// Continuous archiving end to end: the real server archiving its WAL through
// real rclone (local remote), the real `stemectl backup` and `stemectl
// restore --latest | --to-lsn | --to-time` code paths, kill -9 and a lost
// data volume.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "backup/remote_backup.h"
#include "backup/wal_archive.h"
#include "stemectl/backup_command.h"
#include "tests/backup/backup_test_util.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"
#include "util/time_format.h"

namespace stemedb::backup {
namespace {

using e2e::Auth;
using e2e::ParseJson;
using e2e::ServerProcess;
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using testing::Acked;
using testing::ExpectExactly;

class ArchiveRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("RCLONE_CONFIG_TESTREMOTE_TYPE", "local", 1);
    ::setenv("RCLONE_CONFIG", tmp_.Sub("no-rclone.conf").c_str(), 1);
  }

  // A server archiving to `remote`, with a write key in project "pitr".
  void StartArchiving(ServerProcess* server, const std::string& remote) {
    server->SetEnv("STEMEDB_ARCHIVE_REMOTE", remote);
    server->SetEnv("STEMEDB_ARCHIVE_INTERVAL_MS", "200");
    Status started = server->Start();
    ASSERT_TRUE(started.ok()) << started.ToString() << "\n" << server->Stderr();
    auto admin = server->Client();
    auto key = e2e::CreateKey(*admin, server->root_key(), "pitr", "write_agent", "pitr");
    ASSERT_TRUE(key) << key.error().ToString();
    key_ = key->key;
  }

  void Write(ServerProcess& server, int from, int to, std::map<std::string, Acked>* acked) {
    auto http = server.Client();
    for (int i = from; i < to; ++i) {
      auto r = e2e::PostAssertion(*http, key_,
                                  e2e::Assertion("s" + std::to_string(i), "p", i, "agent-1"));
      ASSERT_TRUE(r && r->status == 201) << (r ? r->body : r.error().ToString());
      json::value v = ParseJson(r->body);
      (*acked)[std::string(v.at("id").as_string())] = {v.at("lsn").to_number<uint64_t>(), i,
                                                       Clock::now()};
    }
  }

  uint64_t Backup(ServerProcess& server, const std::string& remote) {
    ::setenv("STEMEDB_ADMIN_KEY", server.root_key().c_str(), 1);
    EXPECT_EQ(ctl::RunBackupCommand({"backup", "--remote", remote, "--url", server.url()}), 0);
    Rclone rclone;
    auto list = ListBackups(rclone, remote);
    EXPECT_TRUE(list && !list->empty());
    return list && !list->empty() ? list->back().lsn : 0;
  }

  // Starts a server on a restored data dir; the caller checks its contents.
  std::unique_ptr<ServerProcess> StartRestored(const std::string& dir, const std::string& root) {
    auto s = std::make_unique<ServerProcess>();
    s->SetEnv("STEMEDB_DATA_DIR", dir);
    s->SetEnv("STEMEDB_ROOT_API_KEY", root);
    Status started = s->Start();
    EXPECT_TRUE(started.ok()) << started.ToString() << "\n" << s->Stderr();
    return s;
  }

  static uint64_t ArchivedLsn(ServerProcess& server) {
    return static_cast<uint64_t>(
        std::max(0.0, testing::Metric(server, "stemedb_wal_archived_lsn")));
  }

  testing::TempDir tmp_;
  std::string key_;
};

TEST_F(ArchiveRestoreTest, PointInTimeThreeMomentsExactContents) {
  const std::string remote = "testremote:" + tmp_.Sub("remote");
  ServerProcess server;
  StartArchiving(&server, remote);
  std::map<std::string, Acked> acked;
  Write(server, 0, 20, &acked);
  const uint64_t base = Backup(server, remote);
  ASSERT_GT(base, 0u);
  // Three moments, each after a batch: an LSN, a time, and the end. Each
  // batch waits until the archive holds the one before, so the archiver
  // seals at least a segment per batch: the chains span several segments
  // and the cuts fall inside one.
  auto archived_all = [&] {
    uint64_t last = 0;
    for (const auto& [id, a] : acked) last = std::max(last, a.lsn);
    for (int i = 0; i < 600 && ArchivedLsn(server) < last; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_GE(ArchivedLsn(server), last) << server.Stderr();
  };
  archived_all();
  Write(server, 20, 60, &acked);
  uint64_t lsn1 = 0;
  for (const auto& [id, a] : acked) lsn1 = std::max(lsn1, a.lsn);
  archived_all();
  Write(server, 60, 80, &acked);
  archived_all();
  Write(server, 80, 100, &acked);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t time2 = UnixMicrosNow();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  uint64_t lsn2 = 0;
  for (const auto& [id, a] : acked) lsn2 = std::max(lsn2, a.lsn);
  archived_all();
  Write(server, 100, 140, &acked);
  uint64_t lsn3 = 0;
  for (const auto& [id, a] : acked) lsn3 = std::max(lsn3, a.lsn);
  // A clean stop ships the active segment.
  ASSERT_EQ(server.Stop(), 0) << server.Stderr();

  const std::string d1 = tmp_.Sub("r1"), d2 = tmp_.Sub("r2"), d3 = tmp_.Sub("r3");
  ASSERT_EQ(ctl::RunBackupCommand({"restore", "--to-lsn", std::to_string(lsn1), "--remote-dir",
                                   remote, "--data-dir", d1}),
            0);
  // Safe to repeat.
  ASSERT_EQ(ctl::RunBackupCommand({"restore", "--to-lsn", std::to_string(lsn1), "--remote-dir",
                                   remote, "--data-dir", d1}),
            0);
  ASSERT_EQ(ctl::RunBackupCommand({"restore", "--to-time", FormatRfc3339(time2), "--remote-dir",
                                   remote, "--data-dir", d2}),
            0);
  ASSERT_EQ(
      ctl::RunBackupCommand({"restore", "--latest", "--remote-dir", remote, "--data-dir", d3}), 0);
  {
    auto s = StartRestored(d1, server.root_key());
    ExpectExactly(*s, key_, acked, lsn1);
  }
  {
    auto s = StartRestored(d2, server.root_key());
    ExpectExactly(*s, key_, acked, lsn2);
  }
  {
    auto s = StartRestored(d3, server.root_key());
    ExpectExactly(*s, key_, acked, lsn3);
    // The restored store goes on writing after the restored LSN.
    auto r = e2e::PostAssertion(*s->Client(), key_, e2e::Assertion("new", "p", 1, "agent-1"));
    ASSERT_TRUE(r && r->status == 201);
    EXPECT_GT(ParseJson(r->body).at("lsn").to_number<uint64_t>(), lsn3);
  }
  // Retention down to the only base keeps what it needs: a restore still
  // reaches every moment.
  EXPECT_EQ(ctl::RunBackupCommand({"archive", "prune", "--remote-dir", remote, "--keep-days", "0"}),
            0);
  EXPECT_EQ(ctl::RunBackupCommand({"archive", "prune", "--remote-dir", remote}), 2);
  ASSERT_EQ(ctl::RunBackupCommand({"restore", "--to-lsn", std::to_string(lsn2), "--remote-dir",
                                   remote, "--data-dir", tmp_.Sub("r6")}),
            0);
  {
    auto s = StartRestored(tmp_.Sub("r6"), server.root_key());
    ExpectExactly(*s, key_, acked, lsn2);
  }
  // Beyond the archive's end: refused, naming where it ends; nothing written.
  EXPECT_EQ(ctl::RunBackupCommand({"restore", "--to-lsn", std::to_string(lsn3 + 1000),
                                   "--remote-dir", remote, "--data-dir", tmp_.Sub("r4")}),
            1);
  EXPECT_FALSE(fs::exists(tmp_.Sub("r4/db/CURRENT")));

  // A missing segment in the middle: a gap, named, never a partial restore
  // (for --latest too: the archive goes on after it).
  Rclone rclone;
  auto list = ListArchivedSegments(rclone, remote);
  ASSERT_TRUE(list && list->size() >= 3);
  const ArchivedSegment hole = (*list)[1];
  const std::string hole_path = tmp_.Sub("remote/wal/" + hole.name);
  fs::rename(hole_path, hole_path + ".away");
  for (const std::vector<std::string>& target :
       {std::vector<std::string>{"--to-lsn", std::to_string(lsn3)},
        std::vector<std::string>{"--latest"}}) {
    std::vector<std::string> args{"restore"};
    args.insert(args.end(), target.begin(), target.end());
    for (const char* a : {"--remote-dir", remote.c_str(), "--data-dir"}) args.push_back(a);
    args.push_back(tmp_.Sub("r7"));
    ::testing::internal::CaptureStderr();
    const int gap_rc = ctl::RunBackupCommand(args);
    const std::string gap_err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(gap_rc, 1) << gap_err;
    EXPECT_NE(gap_err.find("no segment holding lsn " + std::to_string(hole.first_lsn)),
              std::string::npos)
        << gap_err;
    EXPECT_FALSE(fs::exists(tmp_.Sub("r7/db/CURRENT")));
  }
  fs::rename(hole_path + ".away", hole_path);

  // A damaged archived segment is found and named, and nothing is restored.
  const ArchivedSegment& last = list->back();
  const std::string object = tmp_.Sub("remote/wal/" + last.name);
  testing::FlipByte(object, fs::file_size(object) - 3);
  ::testing::internal::CaptureStderr();
  int rc = ctl::RunBackupCommand(
      {"restore", "--latest", "--remote-dir", remote, "--data-dir", tmp_.Sub("r5")});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 5) << err;
  EXPECT_NE(err.find(last.name), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(tmp_.Sub("r5/db/CURRENT")));
}

TEST_F(ArchiveRestoreTest, RestoreFlagsAreCheckedBeforeAnythingHappens) {
  using ctl::RunBackupCommand;
  const std::string remote = "testremote:" + tmp_.Sub("remote");
  const std::string d = tmp_.Sub("d");
  EXPECT_EQ(RunBackupCommand({"restore", "--to-lsn", "12", "--data-dir", d}), 2);  // no dir
  EXPECT_EQ(
      RunBackupCommand({"restore", "--to-lsn", "x1", "--remote-dir", remote, "--data-dir", d}), 2);
  EXPECT_EQ(RunBackupCommand({"restore", "--to-lsn", "0", "--remote-dir", remote, "--data-dir", d}),
            2);
  EXPECT_EQ(RunBackupCommand(
                {"restore", "--to-time", "yesterday", "--remote-dir", remote, "--data-dir", d}),
            2);
  EXPECT_EQ(RunBackupCommand(
                {"restore", "--latest", "--to-lsn", "5", "--remote-dir", remote, "--data-dir", d}),
            2);
  // An empty remote: no base backup to start from.
  EXPECT_EQ(RunBackupCommand({"restore", "--latest", "--remote-dir", remote, "--data-dir", d}), 1);
  EXPECT_FALSE(fs::exists(d + "/db"));
}

// Disaster: continuous writes, kill -9, the data volume gone. A restore of
// the archive on a fresh dir has every assertion the archive had confirmed
// before the kill (and exactly the acknowledged ones up to where it ends).
// Prints the recovery point per round: the age at the kill of the oldest
// acknowledged write that was lost.
TEST_F(ArchiveRestoreTest, DisasterRestoreLatestKeepsEverythingArchived) {
  const int rounds = 3;
  std::vector<double> rpo_ms;
  for (int round = 0; round < rounds; ++round) {
    testing::TempDir dir;
    const std::string remote = "testremote:" + dir.Sub("remote");
    ServerProcess server;
    StartArchiving(&server, remote);
    std::map<std::string, Acked> acked;
    Write(server, 0, 10, &acked);
    ASSERT_GT(Backup(server, remote), 0u);

    std::mutex mu;
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      auto http = server.Client();
      for (int i = 1000; !stop.load() && i < 1000000; ++i) {
        auto r = e2e::PostAssertion(*http, key_,
                                    e2e::Assertion("w" + std::to_string(i), "p", i, "agent-1"));
        if (!r || r->status != 201) break;  // the kill
        json::value v = ParseJson(r->body);
        std::lock_guard<std::mutex> l(mu);
        acked[std::string(v.at("id").as_string())] = {v.at("lsn").to_number<uint64_t>(), i,
                                                      Clock::now()};
      }
    });
    // Let the archive confirm a good part of the writes, then kill.
    uint64_t confirmed = 0;
    for (int i = 0; i < 200 && confirmed < 300; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      confirmed = ArchivedLsn(server);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300 * (round + 1)));
    confirmed = ArchivedLsn(server);
    server.Kill();
    const auto killed = Clock::now();
    stop.store(true);
    writer.join();
    ASSERT_GE(confirmed, 300u) << "the archive never caught up:\n" << server.Stderr();
    fs::remove_all(server.data_dir());  // the volume is gone

    const std::string restored = dir.Sub("restored");
    ASSERT_EQ(ctl::RunBackupCommand(
                  {"restore", "--latest", "--remote-dir", remote, "--data-dir", restored}),
              0);
    auto again = StartRestored(restored, server.root_key());
    uint64_t restored_lsn = 0;
    {
      auto r = again->Client()->Request("GET", "/v1/health", {}, {});
      ASSERT_TRUE(r && r->status == 200);
      restored_lsn = ParseJson(r->body).at("applied_lsn").to_number<uint64_t>();
    }
    EXPECT_GE(restored_lsn, confirmed);
    ExpectExactly(*again, key_, acked, restored_lsn);
    // Recovery point: the oldest acknowledged write that did not survive.
    double lost_ms = 0;
    for (const auto& [id, a] : acked) {
      if (a.lsn > restored_lsn) {
        lost_ms =
            std::max(lost_ms, std::chrono::duration<double, std::milli>(killed - a.at).count());
      }
    }
    rpo_ms.push_back(lost_ms);
    std::cout << "round " << round << ": " << acked.size() << " acknowledged, archive confirmed "
              << confirmed << ", restored to lsn " << restored_lsn << ", recovery point " << lost_ms
              << " ms\n";
  }
  std::sort(rpo_ms.begin(), rpo_ms.end());
  std::cout << "recovery point over " << rounds << " rounds: p50 " << rpo_ms[rpo_ms.size() / 2]
            << " ms, max " << rpo_ms.back() << " ms\n";
}

}  // namespace
}  // namespace stemedb::backup
