// Power loss right after the first start of a server on a fresh volume, with
// the root key from STEMEDB_ROOT_API_KEY (so no root.key is written, whose
// atomic write would sync the data directory by chance): the start-up path
// of api/app.cc (PrepareDirectories, LockDataDirectory, Database::Open,
// EnsureRootKey) runs over a FaultInjectionEnv, assertions are acknowledged
// with WAL sync policy always, then everything not durable is dropped,
// directory entries included. After a restart every acknowledged write is
// there; a store that comes back empty would be served as "ready".
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "api/startup_guards.h"
#include "auth/audit_log.h"
#include "auth/key_store.h"
#include "engine/database.h"
#include "engine/db_impl.h"
#include "tests/util/temp_dir.h"
#include "util/fault_injection_env.h"

namespace stemedb::api {
namespace {

namespace fs = std::filesystem;

const std::string kRootKey = "steme_live_" + std::string(48, 'b');
constexpr int64_t kNowUs = 1'780'000'000'000'000;

class StartupPowerLossTest : public ::testing::Test {
 protected:
  void SetUp() override { config_.root_api_key = kRootKey; }

  // The server's start-up order, as far as the store (api/app.cc Run).
  struct Server {
    std::unique_ptr<FileLock> lock;
    std::unique_ptr<engine::Database> db;
    std::unique_ptr<auth::AuditLog> audit;
    std::unique_ptr<auth::KeyStore> keys;
  };
  void Start(Env* env, Server* s) {
    ASSERT_TRUE(CheckConfig(config_).ok());
    ASSERT_TRUE(CheckRootKeyBeforeOpen(env, config_).ok());
    Status prepared = PrepareDirectories(env, config_);
    ASSERT_TRUE(prepared.ok()) << prepared.ToString();
    auto lock = LockDataDirectory(env, config_);
    ASSERT_TRUE(lock) << lock.error().ToString();
    s->lock = std::move(*lock);
    engine::DatabaseOptions o;
    o.db_dir = config_.db_dir;
    o.wal.dir = config_.wal_dir;
    o.wal.sync_policy = wal::SyncPolicy::kAlways;
    o.wal.env = env;
    auto db = engine::Database::Open(o, nullptr);
    ASSERT_TRUE(db) << db.error().ToString();
    s->db = std::move(*db);
    s->audit = std::make_unique<auth::AuditLog>(s->db.get());
    ASSERT_TRUE(s->audit->Load().ok());
    s->keys = std::make_unique<auth::KeyStore>(s->db.get(), s->audit.get());
    ASSERT_TRUE(s->keys->Load().ok());
    auto root = EnsureRootKey(env, config_, s->keys.get(), kNowUs);
    ASSERT_TRUE(root) << root.error().ToString();
  }

  // Acknowledged (durable, applied) assertions; returns their ids.
  std::vector<std::string> Write(engine::Database* db, int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; i++) {
      engine::NewAssertion a;
      a.id = "as_powerloss_" + std::to_string(i);
      a.subject = "sky";
      a.predicate = "color";
      a.agent_id = "alice";
      a.value_json = "\"blue\"";
      auto r = db->Submit(engine::AssertBatchEntry{"default", {a}, std::nullopt});
      EXPECT_TRUE(r) << r.error().ToString();
      if (r) ids.push_back(a.id);
    }
    return ids;
  }

  void Run(const std::string& data, const std::string& wal, const std::string& db) {
    config_.data_dir = data;
    config_.wal_dir = wal;
    config_.db_dir = db;
    FaultInjectionEnv env;
    std::vector<std::string> acked;
    {
      Server first;
      ASSERT_NO_FATAL_FAILURE(Start(&env, &first));
      acked = Write(first.db.get(), 20);
      ASSERT_EQ(20u, acked.size());
      env.Crash();  // the power goes out; nothing more reaches the disk
      dynamic_cast<engine::DbImpl&>(*first.db).TEST_CrashClose();
    }
    ASSERT_FALSE(fs::exists(fs::path(data) / "root.key"));  // nothing synced data/ for us
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    env.Reset();

    Server second;
    ASSERT_NO_FATAL_FAILURE(Start(&env, &second));
    EXPECT_GE(second.db->applied_lsn().value(), acked.size());
    for (const auto& id : acked) {
      EXPECT_TRUE(second.db->GetAssertion("default", id)) << id << " lost by the power loss";
    }
    auto principal = second.keys->Authenticate(kRootKey, kNowUs);
    EXPECT_TRUE(principal) << "the seeded root key was lost";
    ASSERT_TRUE(second.db->Close().ok());
  }

  stemedb::testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
  ServerConfig config_;
};

TEST_F(StartupPowerLossTest, FreshDataDirectorySurvivesPowerLoss) {
  const std::string data = dir_ + "/stemedb-data";
  Run(data, data + "/wal", data + "/db");
}

// The k3s layout: WAL and DB each on their own volume, mounted at paths that
// may not exist yet below a root that does.
TEST_F(StartupPowerLossTest, SeparateVolumesSurvivePowerLoss) {
  Run(dir_ + "/data", dir_ + "/volumes/wal/stemedb", dir_ + "/volumes/db/stemedb");
}

}  // namespace
}  // namespace stemedb::api
