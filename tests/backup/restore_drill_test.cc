// The restore drill of issue 7, end to end: the real server, real rclone
// (local remote), the real `stemectl backup` / `restore` code paths.
//
// Writes go on while the backup streams. Every assertion acknowledged with
// an LSN up to the snapshot LSN must come back byte-identical; none after it
// may. Keys (and the usage table) live in the same store and come back too.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "backup/remote_backup.h"
#include "stemectl/backup_command.h"
#include "tests/backup/backup_test_util.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"

namespace stemedb::backup {
namespace {

using e2e::Auth;
using e2e::ParseJson;
using e2e::ServerProcess;
namespace json = boost::json;

struct Acked {
  uint64_t lsn = 0;
  std::string body;  // GET /v1/assertions/{id} before the restore
};

TEST(RestoreDrillTest, BackupWhileWritingThenRestoreHasExactlyTheSnapshot) {
  testing::TempDir tmp;
  ::setenv("RCLONE_CONFIG_TESTREMOTE_TYPE", "local", 1);
  ::setenv("RCLONE_CONFIG", tmp.Sub("no-rclone.conf").c_str(), 1);
  const std::string remote = "testremote:" + tmp.Sub("remote");

  ServerProcess server;
  Status started = server.Start();
  ASSERT_TRUE(started.ok()) << started.ToString() << "\n" << server.Stderr();
  auto admin = server.Client();
  auto writer_key = e2e::CreateKey(*admin, server.root_key(), "drill", "write_agent", "drill");
  ASSERT_TRUE(writer_key) << writer_key.error().ToString();

  std::mutex mu;
  std::map<std::string, Acked> acked;  // id -> lsn
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    auto http = server.Client();
    for (int i = 0; !stop.load() && i < 20000; ++i) {
      auto r = e2e::PostAssertion(
          *http, writer_key->key,
          e2e::Assertion("subject-" + std::to_string(i % 50), "p", json::value(i), "agent-1"));
      if (!r || r->status != 201) {
        failures++;
        continue;
      }
      json::value v = ParseJson(r->body);
      std::lock_guard<std::mutex> lock(mu);
      acked[std::string(v.at("id").as_string())].lsn = v.at("lsn").to_number<uint64_t>();
    }
  });
  auto acked_count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return acked.size();
  };
  while (acked_count() < 200 && failures.load() == 0) std::this_thread::yield();

  ::setenv("STEMEDB_ADMIN_KEY", server.root_key().c_str(), 1);
  int rc =
      ctl::RunBackupCommand({"backup", "--remote", remote, "--keep", "2", "--url", server.url()});
  size_t during = acked_count();
  while (acked_count() < during + 100 && failures.load() == 0) std::this_thread::yield();
  stop.store(true);
  writer.join();
  ASSERT_EQ(rc, 0) << server.Stderr();
  ASSERT_EQ(failures.load(), 0);

  Rclone rclone;
  auto list = ListBackups(rclone, remote);
  ASSERT_TRUE(list && list->size() == 1);
  const uint64_t snap = list->at(0).lsn;
  const std::string object = JoinRemote(remote, list->at(0).name);

  for (auto& [id, a] : acked) {
    auto r = admin->Request("GET", "/v1/assertions/" + id, {}, Auth(writer_key->key));
    ASSERT_TRUE(r && r->status == 200) << id;
    a.body = r->body;
  }
  EXPECT_EQ(server.Stop(), 0);

  EXPECT_EQ(ctl::RunBackupCommand({"backup", "verify", "--remote", object}), 0);
  const std::string restored = tmp.Sub("restored");
  ASSERT_EQ(ctl::RunBackupCommand({"restore", "--remote", object, "--data-dir", restored}), 0);

  ServerProcess again;
  again.SetEnv("STEMEDB_DATA_DIR", restored);
  again.SetEnv("STEMEDB_ROOT_API_KEY", server.root_key());
  started = again.Start();
  ASSERT_TRUE(started.ok()) << started.ToString() << "\n" << again.Stderr();
  auto http = again.Client();
  size_t before = 0, after = 0;
  for (const auto& [id, a] : acked) {
    // The write key itself came back: it authenticates.
    auto r = http->Request("GET", "/v1/assertions/" + id, {}, Auth(writer_key->key));
    ASSERT_TRUE(r) << r.error().ToString();
    if (a.lsn <= snap) {
      ASSERT_EQ(r->status, 200) << id << " lsn " << a.lsn << " snapshot " << snap;
      EXPECT_EQ(r->body, a.body);
      ++before;
    } else {
      EXPECT_EQ(r->status, 404) << id << " lsn " << a.lsn << " snapshot " << snap;
      ++after;
    }
  }
  EXPECT_GE(before, 200u);
  EXPECT_GT(after, 0u);

  auto keys = http->Request("GET", "/v1/admin/api-keys", {}, Auth(server.root_key()));
  ASSERT_TRUE(keys && keys->status == 200);
  EXPECT_NE(keys->body.find(writer_key->key_id), std::string::npos);
  auto usage = http->Request("GET", "/v1/admin/usage", {}, Auth(server.root_key()));
  ASSERT_TRUE(usage && usage->status == 200);
  EXPECT_NE(usage->body.find("drill"), std::string::npos) << usage->body;

  // The WAL continues after the snapshot: a new write gets a later LSN.
  auto r = e2e::PostAssertion(*http, writer_key->key, e2e::Assertion("new", "p", 1, "agent-1"));
  ASSERT_TRUE(r && r->status == 201);
  EXPECT_GT(ParseJson(r->body).at("lsn").to_number<uint64_t>(), snap);
  std::cout << "drill: snapshot_lsn " << snap << ", " << before << " restored, " << after
            << " written after the snapshot\n";
}

}  // namespace
}  // namespace stemedb::backup
