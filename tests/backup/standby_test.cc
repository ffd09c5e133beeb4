// Warm standby end to end (docs/backup.md "Warm standby"): real servers, real
// rclone (a local remote, and `rclone serve webdav` on loopback), the real
// `stemectl promote`, kill -9. A primary archives; a standby restores from
// the archive into its empty data dir and follows it read-only; the primary
// is killed; the standby is promoted and takes writes under writer epoch 2;
// the old primary, restarted on its own volume, is fenced off; a restore
// --latest follows the new epoch's chain.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "backup/child_process.h"
#include "backup/remote_backup.h"
#include "backup/wal_archive.h"
#include "stemectl/backup_command.h"
#include "tests/backup/backup_test_util.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"
#include "tests/stemectl/ctl_runner.h"

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
using testing::Metric;
using testing::ServeWebdav;

bool WaitFor(const std::function<bool()>& done, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

json::value Health(ServerProcess& server) {
  auto r = server.Client()->Request("GET", "/v1/health", {}, {});
  if (!r) return json::value(nullptr);
  return ParseJson(r->body);
}

std::string Role(ServerProcess& server) {
  json::value h = Health(server);
  if (!h.is_object() || !h.as_object().contains("role")) return "";
  return std::string(h.at("role").as_string());
}

class StandbyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("RCLONE_CONFIG_TESTREMOTE_TYPE", "local", 1);
    ::setenv("RCLONE_CONFIG", tmp_.Sub("no-rclone.conf").c_str(), 1);
  }

  // The primary archiving to `remote` with a base backup taken, and a write
  // key in project "ha".
  void StartPrimary(ServerProcess* primary, const std::string& remote) {
    primary->SetEnv("STEMEDB_ARCHIVE_REMOTE", remote);
    primary->SetEnv("STEMEDB_ARCHIVE_INTERVAL_MS", "200");
    Status started = primary->Start();
    ASSERT_TRUE(started.ok()) << started.ToString() << "\n" << primary->Stderr();
    auto key = e2e::CreateKey(*primary->Client(), primary->root_key(), "ha", "write_agent", "ha");
    ASSERT_TRUE(key) << key.error().ToString();
    key_ = key->key;
    ::setenv("STEMEDB_ADMIN_KEY", primary->root_key().c_str(), 1);
    ASSERT_EQ(ctl::RunBackupCommand({"backup", "--remote", remote, "--url", primary->url()}), 0);
  }

  void StartStandby(ServerProcess* standby, const std::string& remote, const std::string& root) {
    standby->SetEnv("STEMEDB_ARCHIVE_REMOTE", remote);
    standby->SetEnv("STEMEDB_ARCHIVE_INTERVAL_MS", "200");
    standby->SetEnv("STEMEDB_STANDBY", "true");
    standby->SetEnv("STEMEDB_STANDBY_POLL_MS", "200");
    standby->SetEnv("STEMEDB_ROOT_API_KEY", root);
    Status started = standby->Start();
    ASSERT_TRUE(started.ok()) << started.ToString() << "\n" << standby->Stderr();
  }

  Result<client::HttpResponse> Post(ServerProcess& server, int i) {
    return e2e::PostAssertion(*server.Client(), key_,
                              e2e::Assertion("s" + std::to_string(i), "p", i, "agent-1"));
  }

  testing::TempDir tmp_;
  std::string key_;
};

TEST_F(StandbyTest, FollowPromoteFenceAndRestoreTheNewEpoch) {
  const std::string remote = "testremote:" + tmp_.Sub("remote");
  ServerProcess primary;
  StartPrimary(&primary, remote);
  ServerProcess standby;
  StartStandby(&standby, remote, primary.root_key());
  EXPECT_EQ(Role(standby), "standby");
  EXPECT_EQ(Role(primary), "primary");

  // Continuous writes on the primary.
  std::mutex mu;
  std::map<std::string, Acked> acked;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load() && i < 1000000; ++i) {
      auto r = Post(primary, i);
      if (!r || r->status != 201) break;  // the kill
      json::value v = ParseJson(r->body);
      std::lock_guard<std::mutex> l(mu);
      acked[std::string(v.at("id").as_string())] = {v.at("lsn").to_number<uint64_t>(), i,
                                                    Clock::now()};
    }
  });
  auto newest = [&]() -> std::pair<std::string, Acked> {
    std::lock_guard<std::mutex> l(mu);
    std::pair<std::string, Acked> best;
    for (const auto& [id, a] : acked) {
      if (a.lsn > best.second.lsn) best = {id, a};
    }
    return best;
  };
  // Follow lag, measured (not asserted): how long after its acknowledgement
  // the primary's newest write is readable on the standby.
  std::vector<double> lag_ms;
  auto http = standby.Client();
  for (int sample = 0; sample < 8; ++sample) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const auto [id, a] = newest();
    if (id.empty()) continue;
    ASSERT_TRUE(WaitFor(
        [&] {
          auto r = http->Request("GET", "/v1/assertions/" + id, {}, Auth(key_));
          return r && r->status == 200;
        },
        std::chrono::seconds(60)))
        << "the standby never applied lsn " << a.lsn << "\n"
        << standby.Stderr();
    lag_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a.at).count());
  }
  ASSERT_FALSE(lag_ms.empty());
  std::sort(lag_ms.begin(), lag_ms.end());
  std::cout << "standby follow lag over " << lag_ms.size() << " samples: p50 "
            << lag_ms[lag_ms.size() / 2] << " ms, max " << lag_ms.back()
            << " ms (archive interval 200 ms, poll 200 ms)\n";
  EXPECT_EQ(Metric(standby, "stemedb_standby"), 1);

  // Every write route is refused on the standby with one documented error;
  // admin key routes too. Reads work.
  {
    auto r = Post(standby, -1);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(e2e::ErrorCode(*r), "not_primary") << r->body;
    auto k = e2e::CreateKey(*standby.Client(), primary.root_key(), "x", "write_agent", "ha");
    EXPECT_FALSE(k);
    auto raw =
        standby.Client()->Request("POST", "/v1/admin/api-keys", R"({"name":"x","role":"admin"})",
                                  Auth(primary.root_key(), {{"Content-Type", "application/json"}}));
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->status, 503) << raw->body;
    EXPECT_EQ(e2e::ErrorCode(*raw), "not_primary") << raw->body;
    auto list =
        standby.Client()->Request("GET", "/v1/admin/api-keys", {}, Auth(primary.root_key()));
    ASSERT_TRUE(list);
    EXPECT_EQ(list->status, 200) << list->body;
  }

  // Disaster on the primary: kill -9 while writing.
  const uint64_t confirmed =
      static_cast<uint64_t>(std::max(0.0, Metric(primary, "stemedb_wal_archived_lsn")));
  primary.Kill();
  const auto killed = Clock::now();
  stop.store(true);
  writer.join();
  ASSERT_GT(confirmed, 0u);

  // Promotion with the real stemectl.
  e2e::CtlRun promoted = e2e::Ctl(standby, {"promote"}).Wait();
  ASSERT_EQ(promoted.exit_code, 0) << promoted.err << promoted.out << standby.Stderr();
  EXPECT_NE(promoted.out.find("writer epoch 2"), std::string::npos) << promoted.out;
  EXPECT_EQ(Role(standby), "primary");
  EXPECT_EQ(Health(standby).at("writer_epoch").to_number<uint64_t>(), 2u);
  // Safe to repeat.
  e2e::CtlRun again = e2e::Ctl(standby, {"promote"}).Wait();
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already promoted"), std::string::npos) << again.out;

  // Everything the archive had confirmed before the kill is there,
  // identical; what the new primary applied is exactly a prefix.
  const uint64_t applied = Health(standby).at("applied_lsn").to_number<uint64_t>();
  std::map<std::string, Acked> old_acked;
  {
    std::lock_guard<std::mutex> l(mu);
    old_acked = acked;
  }
  // Epoch 2 starts with the promotion's own record; the old primary's
  // records on the new one run up to the LSN before it.
  auto epochs = [&] {
    Rclone rclone;
    auto chain = ListWriterEpochs(rclone, remote);
    EXPECT_TRUE(chain) << chain.error().ToString();
    return chain ? *chain : std::vector<WriterEpoch>{};
  }();
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs[1].epoch, 2u);
  const uint64_t promoted_at = epochs[1].first_lsn - 1;
  EXPECT_GE(promoted_at, confirmed);
  EXPECT_GE(applied, promoted_at + 1);
  ExpectExactly(standby, key_, old_acked, promoted_at);
  double lost_ms = 0;
  for (const auto& [id, a] : old_acked) {
    if (a.lsn > promoted_at) {
      lost_ms = std::max(lost_ms, std::chrono::duration<double, std::milli>(killed - a.at).count());
    }
  }
  std::cout << old_acked.size() << " acknowledged; archive confirmed " << confirmed
            << " at the kill; promoted at lsn " << promoted_at << "; recovery point " << lost_ms
            << " ms\n";

  // The new primary takes writes and archives them under epoch 2.
  auto w = Post(standby, 5000000);
  ASSERT_TRUE(w && w->status == 201) << (w ? w->body : w.error().ToString());
  const uint64_t new_lsn = ParseJson(w->body).at("lsn").to_number<uint64_t>();
  EXPECT_GT(new_lsn, promoted_at + 1);
  const std::string new_id(ParseJson(w->body).at("id").as_string());
  ASSERT_TRUE(WaitFor([&] { return Metric(standby, "stemedb_wal_archived_lsn") >= new_lsn; },
                      std::chrono::seconds(60)))
      << standby.Stderr();
  {
    Rclone rclone;
    auto list = ListArchivedSegments(rclone, remote);
    ASSERT_TRUE(list && !list->empty());
    EXPECT_EQ(list->back().epoch, 2u) << list->back().name;
    EXPECT_GE(list->back().last_lsn, new_lsn);
  }

  // The old primary comes back on its own volume (it has acknowledged
  // writes the archive never got): fenced off, it refuses writes and
  // uploads nothing.
  ASSERT_TRUE(primary.Spawn().ok());
  ASSERT_TRUE(WaitFor([&] { return Role(primary) == "fenced"; }, std::chrono::seconds(60)))
      << primary.Stderr();
  {
    auto r = Post(primary, -2);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(e2e::ErrorCode(*r), "not_primary") << r->body;
    EXPECT_NE(r->body.find("fenced off"), std::string::npos) << r->body;
    auto ready = primary.Client()->Request("GET", "/v1/ready", {}, {});
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 503);
    EXPECT_TRUE(
        WaitFor([&] { return Metric(primary, "stemedb_fenced") == 1; }, std::chrono::seconds(10)));
  }
  // Give its archiver time to try (it checks before every upload).
  std::this_thread::sleep_for(std::chrono::seconds(2));
  for (const auto& e : fs::directory_iterator(tmp_.Sub("remote/wal"))) {
    auto seg = ParseArchivedSegmentName(e.path().filename().string());
    if (seg && seg->epoch == 1) {
      EXPECT_LE(seg->last_lsn, promoted_at) << "the fenced-off primary uploaded " << seg->name;
    }
  }
  EXPECT_EQ(primary.Stop(), 0) << primary.Stderr();

  // Restore --latest follows the new epoch's chain.
  const std::string restored = tmp_.Sub("restored");
  ASSERT_EQ(ctl::RunBackupCommand(
                {"restore", "--latest", "--remote-dir", remote, "--data-dir", restored}),
            0);
  ASSERT_EQ(standby.Stop(), 0) << standby.Stderr();
  ServerProcess after;
  after.SetEnv("STEMEDB_DATA_DIR", restored);
  after.SetEnv("STEMEDB_ROOT_API_KEY", primary.root_key());
  ASSERT_TRUE(after.Start().ok()) << after.Stderr();
  EXPECT_EQ(Health(after).at("writer_epoch").to_number<uint64_t>(), 2u);
  EXPECT_GE(Health(after).at("applied_lsn").to_number<uint64_t>(), new_lsn);
  auto r = after.Client()->Request("GET", "/v1/assertions/" + new_id, {}, Auth(key_));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  ExpectExactly(after, key_, old_acked, promoted_at);
}

// The standby follows over a network remote; the remote going away stops
// nothing but the following, and it catches up when it returns.
TEST_F(StandbyTest, FollowsOverWebdav) {
  const uint16_t port = e2e::PickFreePort();
  ::setenv("RCLONE_CONFIG_DAV_TYPE", "webdav", 1);
  ::setenv("RCLONE_CONFIG_DAV_URL", ("http://127.0.0.1:" + std::to_string(port)).c_str(), 1);
  const std::string served = tmp_.Sub("served");
  fs::create_directories(served);
  auto dav = ServeWebdav(served, port);
  ASSERT_NE(dav, nullptr);
  const std::string remote = "dav:ha";
  ServerProcess primary;
  StartPrimary(&primary, remote);
  ServerProcess standby;
  StartStandby(&standby, remote, primary.root_key());
  std::string last_id;
  for (int i = 0; i < 30; ++i) {
    auto r = Post(primary, i);
    ASSERT_TRUE(r && r->status == 201);
    last_id = std::string(ParseJson(r->body).at("id").as_string());
  }
  auto visible = [&] {
    auto r = standby.Client()->Request("GET", "/v1/assertions/" + last_id, {}, Auth(key_));
    return r && r->status == 200;
  };
  ASSERT_TRUE(WaitFor(visible, std::chrono::seconds(60))) << standby.Stderr();

  dav.reset();  // the remote is gone: the primary keeps its segments, the standby waits
  for (int i = 30; i < 60; ++i) {
    auto r = Post(primary, i);
    ASSERT_TRUE(r && r->status == 201);
    last_id = std::string(ParseJson(r->body).at("id").as_string());
  }
  ASSERT_TRUE(WaitFor([&] { return Metric(standby, "stemedb_standby_lag_seconds") > 0.5; },
                      std::chrono::seconds(60)));
  EXPECT_FALSE(visible());
  dav = ServeWebdav(served, port);
  ASSERT_NE(dav, nullptr);
  ASSERT_TRUE(WaitFor(visible, std::chrono::seconds(120))) << standby.Stderr();
  EXPECT_EQ(Role(standby), "standby");
}

}  // namespace
}  // namespace stemedb::backup
