#include "api/startup_guards.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "api/services.h"
#include "engine/database.h"
#include "tests/util/temp_dir.h"

namespace stemedb::api {
namespace {

namespace fs = std::filesystem;

const std::string kGoodKey = "steme_live_" + std::string(48, 'a');

class StartupGuardsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_ + "/data";
    config_.wal_dir = config_.data_dir + "/wal";
    config_.db_dir = config_.data_dir + "/db";
  }
  void TearDown() override {
    if (db_) {
      EXPECT_TRUE(db_->Close().ok());
    }
    db_.reset();
  }
  void Bind(const std::string& host) {
    config_.bind_host = host;
    config_.bind_addr = host + ":18180";
  }
  void OpenDb() {
    engine::DatabaseOptions o;
    o.db_dir = config_.db_dir;
    o.wal.dir = config_.wal_dir;
    auto db = engine::Database::Open(o, nullptr);
    ASSERT_TRUE(db) << db.error().ToString();
    db_ = std::move(*db);
  }

  Env* env_ = Env::Default();
  stemedb::testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
  ServerConfig config_;
  std::unique_ptr<engine::Database> db_;
};

void ExpectOneLine(const Status& s, std::string_view needle) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
}

TEST_F(StartupGuardsTest, Guard1AuthWithSkippedSignatures) {
  config_.unsafe_skip_signatures = true;
  ExpectOneLine(CheckConfig(config_), "STEMEDB_UNSAFE_SKIP_SIGNATURES");
  config_.auth_enabled = false;
  EXPECT_TRUE(CheckConfig(config_).ok());
}

TEST_F(StartupGuardsTest, Guard2AuthDisabledOnlyOnLoopback) {
  config_.auth_enabled = false;
  Bind("127.0.0.1");
  EXPECT_TRUE(CheckConfig(config_).ok());
  Bind("0.0.0.0");
  ExpectOneLine(CheckConfig(config_), "STEMEDB_AUTH_ENABLED");
  Bind("10.1.2.3");
  EXPECT_FALSE(CheckConfig(config_).ok());
}

TEST_F(StartupGuardsTest, Guard3MalformedRootKeyIsRefusedWithoutEchoingIt) {
  config_.root_api_key = "steme_live_" + std::string(47, 'a') + "G";
  Status s = CheckConfig(config_);
  ExpectOneLine(s, "STEMEDB_ROOT_API_KEY");
  EXPECT_EQ(s.message().find(config_.root_api_key), std::string::npos);
  config_.root_api_key = kGoodKey;
  EXPECT_TRUE(CheckConfig(config_).ok());
}

TEST_F(StartupGuardsTest, Guard6CreatesMissingDirectories) {
  ASSERT_TRUE(PrepareDirectories(env_, config_).ok());
  EXPECT_TRUE(fs::is_directory(config_.wal_dir));
  EXPECT_TRUE(fs::is_directory(config_.db_dir));
}

TEST_F(StartupGuardsTest, Guard6DirectoryThatCannotBeCreated) {
  std::ofstream(dir_ + "/file") << "x";
  config_.wal_dir = dir_ + "/file/wal";  // below a regular file
  ExpectOneLine(PrepareDirectories(env_, config_), "STEMEDB_WAL_DIR");
}

TEST_F(StartupGuardsTest, Guard6PathIsAFile) {
  ASSERT_TRUE(fs::create_directories(config_.data_dir));
  std::ofstream(config_.data_dir + "/dbfile") << "x";
  config_.db_dir = config_.data_dir + "/dbfile";
  Status s = PrepareDirectories(env_, config_);
  ExpectOneLine(s, "STEMEDB_DB_DIR");
}

TEST_F(StartupGuardsTest, Guard6ReadOnlyDirectory) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  ASSERT_TRUE(fs::create_directories(config_.wal_dir));
  ASSERT_EQ(chmod(config_.wal_dir.c_str(), 0555), 0);
  ExpectOneLine(PrepareDirectories(env_, config_), "not writable");
  chmod(config_.wal_dir.c_str(), 0755);
}

TEST_F(StartupGuardsTest, Guard5SecondLockIsBusy) {
  ASSERT_TRUE(PrepareDirectories(env_, config_).ok());
  auto first = LockDataDirectory(env_, config_);
  ASSERT_TRUE(first) << first.error().ToString();
  auto second = LockDataDirectory(env_, config_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), Status::Code::kBusy);
  ExpectOneLine(second.error(), "in use by another stemedb process");
  first->reset();
  EXPECT_TRUE(LockDataDirectory(env_, config_));
}

TEST_F(StartupGuardsTest, Guard4FreshVolumeOnPublicBindIsRefusedBeforeOpen) {
  Bind("0.0.0.0");
  ASSERT_TRUE(PrepareDirectories(env_, config_).ok());
  Status s = CheckRootKeyBeforeOpen(env_, config_);
  ExpectOneLine(s, "STEMEDB_ROOT_API_KEY");
  // Nothing was written into the DB directory.
  EXPECT_TRUE(fs::is_empty(config_.db_dir));

  config_.root_api_key = kGoodKey;
  EXPECT_TRUE(CheckRootKeyBeforeOpen(env_, config_).ok());
  config_.root_api_key.clear();
  Bind("127.0.0.1");
  EXPECT_TRUE(CheckRootKeyBeforeOpen(env_, config_).ok());
}

TEST_F(StartupGuardsTest, Guard4LoopbackGeneratesRootKeyFile) {
  Bind("127.0.0.1");
  ASSERT_TRUE(PrepareDirectories(env_, config_).ok());
  ASSERT_NO_FATAL_FAILURE(OpenDb());
  auto services = OpenAuthServices(db_.get(), config_);
  ASSERT_TRUE(services) << services.error().ToString();
  auth::KeyStore& keys = *services->keys;
  ASSERT_TRUE(keys.empty());

  auto out = EnsureRootKey(env_, config_, &keys, 1'800'000'000'000'000);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_TRUE(out->generated);
  EXPECT_EQ(out->key_file, RootKeyPath(config_));
  struct stat st {};
  ASSERT_EQ(stat(out->key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string key;
  std::ifstream(out->key_file) >> key;
  EXPECT_TRUE(auth::IsWellFormedKey(key));
  EXPECT_FALSE(keys.empty());
  auto principal = keys.Authenticate(key, 1'800'000'000'000'001);
  ASSERT_TRUE(principal) << principal.error().ToString();
  EXPECT_EQ(principal->role, auth::Role::kAdmin);

  // The store is no longer empty: a second start generates nothing.
  auto again = EnsureRootKey(env_, config_, &keys, 1'800'000'000'000'002);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->generated);
  EXPECT_FALSE(again->reused_key_file);
}

TEST_F(StartupGuardsTest, Guard4ExistingKeyFileIsReused) {
  Bind("127.0.0.1");
  ASSERT_TRUE(PrepareDirectories(env_, config_).ok());
  std::ofstream(RootKeyPath(config_)) << kGoodKey << "\n";
  ASSERT_NO_FATAL_FAILURE(OpenDb());
  auto services = OpenAuthServices(db_.get(), config_);
  ASSERT_TRUE(services) << services.error().ToString();
  auth::KeyStore& keys = *services->keys;
  auto out = EnsureRootKey(env_, config_, &keys, 1'800'000'000'000'000);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_TRUE(out->reused_key_file);
  EXPECT_TRUE(keys.Authenticate(kGoodKey, 1'800'000'000'000'001));
}

TEST_F(StartupGuardsTest, Guard4EmptyStoreOnPublicBindIsRefusedAfterOpen) {
  Bind("0.0.0.0");
  ASSERT_TRUE(PrepareDirectories(env_, config_).ok());
  ASSERT_NO_FATAL_FAILURE(OpenDb());
  auto services = OpenAuthServices(db_.get(), config_);
  ASSERT_TRUE(services) << services.error().ToString();
  auth::KeyStore& keys = *services->keys;
  auto out = EnsureRootKey(env_, config_, &keys, 1'800'000'000'000'000);
  ASSERT_FALSE(out);
  ExpectOneLine(out.error(), "STEMEDB_ROOT_API_KEY");
  EXPECT_FALSE(fs::exists(RootKeyPath(config_)));
}

TEST_F(StartupGuardsTest, RootKeyFromConfigIsSeededOnce) {
  Bind("0.0.0.0");
  config_.root_api_key = kGoodKey;
  ASSERT_TRUE(PrepareDirectories(env_, config_).ok());
  ASSERT_NO_FATAL_FAILURE(OpenDb());
  auto services = OpenAuthServices(db_.get(), config_);
  ASSERT_TRUE(services) << services.error().ToString();
  auth::KeyStore& keys = *services->keys;
  auto first = EnsureRootKey(env_, config_, &keys, 1'800'000'000'000'000);
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_TRUE(first->seeded_from_config);
  auto second = EnsureRootKey(env_, config_, &keys, 1'800'000'000'000'001);
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->seeded_from_config);
  EXPECT_FALSE(fs::exists(RootKeyPath(config_)));
}

}  // namespace
}  // namespace stemedb::api
