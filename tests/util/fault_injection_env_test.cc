#include "util/fault_injection_env.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/util/temp_dir.h"

namespace stemedb {
namespace {

using stemedb::testing::TempDir;

std::string Slurp(Env* env, const std::string& path) {
  auto r = ReadFileToString(env, path);
  return r ? *r : std::string("<missing>");
}

std::unique_ptr<WritableFile> Create(Env* env, const std::string& path) {
  auto r = env->NewWritableFile(path);
  EXPECT_TRUE(r) << r.error().ToString();
  return std::move(*r);
}

TEST(FaultInjectionEnvTest, SyncFailsWithEioAfterN) {
  TempDir tmp;
  FaultInjectionEnv env;
  env.FailSyncAfter(2);
  auto f = Create(&env, tmp.Sub("a"));
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_TRUE(f->Sync().ok());
  Status s = f->Sync();
  EXPECT_EQ(Status::Code::kIOError, s.code());
  EXPECT_NE(std::string::npos, s.message().find("Input/output error")) << s.ToString();
  EXPECT_FALSE(f->Sync().ok());
  EXPECT_EQ(2u, env.syncs());
}

TEST(FaultInjectionEnvTest, EnospcAfterBytes) {
  TempDir tmp;
  FaultInjectionEnv env;
  env.FailAppendAfterBytes(10, /*short_write=*/false);
  auto f = Create(&env, tmp.Sub("a"));
  EXPECT_TRUE(f->Append("12345").ok());
  EXPECT_TRUE(f->Append("6789").ok());
  Status s = f->Append("ab");
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_TRUE(f->Append("0").ok());  // exactly fills it
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ("1234567890", Slurp(&env, tmp.Sub("a")));
}

TEST(FaultInjectionEnvTest, ShortWriteThenEnospc) {
  TempDir tmp;
  FaultInjectionEnv env;
  env.FailAppendAfterBytes(4, /*short_write=*/true);
  auto f = Create(&env, tmp.Sub("a"));
  EXPECT_TRUE(f->Append("abcdefgh").IsNoSpace());
  EXPECT_EQ(4u, f->Size());
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ("abcd", Slurp(&env, tmp.Sub("a")));
}

TEST(FaultInjectionEnvTest, PathFilterLimitsFaults) {
  TempDir tmp;
  FaultInjectionEnv env;
  env.SetPathFilter(".wal");
  env.FailSyncAfter(0);
  EXPECT_TRUE(Create(&env, tmp.Sub("other"))->Sync().ok());
  EXPECT_FALSE(Create(&env, tmp.Sub("x.wal"))->Sync().ok());
}

TEST(FaultInjectionEnvTest, SyncDirFails) {
  TempDir tmp;
  FaultInjectionEnv env;
  env.FailSyncDirAfter(1);
  EXPECT_TRUE(env.SyncDir(tmp.path()).ok());
  EXPECT_FALSE(env.SyncDir(tmp.path()).ok());
  env.Reset();
  EXPECT_TRUE(env.SyncDir(tmp.path()).ok());
}

TEST(FaultInjectionEnvTest, ConfigureFromSpec) {
  FaultInjectionEnv env;
  EXPECT_TRUE(env.ConfigureFromSpec("").ok());
  EXPECT_TRUE(env.ConfigureFromSpec("sync_eio_after=5").ok());
  EXPECT_TRUE(env.ConfigureFromSpec("enospc_after_bytes=100000,path_contains=.wal").ok());
  EXPECT_TRUE(env.ConfigureFromSpec("short_write_after_bytes=7,syncdir_eio_after=0").ok());
  EXPECT_EQ(Status::Code::kInvalidArgument, env.ConfigureFromSpec("bogus=1").code());
  EXPECT_EQ(Status::Code::kInvalidArgument, env.ConfigureFromSpec("sync_eio_after").code());
  EXPECT_EQ(Status::Code::kInvalidArgument, env.ConfigureFromSpec("sync_eio_after=x").code());
  EXPECT_EQ(Status::Code::kInvalidArgument, env.ConfigureFromSpec("sync_eio_after=-1").code());

  TempDir tmp;
  FaultInjectionEnv env2;
  ASSERT_TRUE(env2.ConfigureFromSpec("sync_eio_after=1").ok());
  auto f = Create(&env2, tmp.Sub("a"));
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_FALSE(f->Sync().ok());
}

TEST(FaultInjectionEnvTest, DropUnsyncedDataTruncatesToLastSync) {
  TempDir tmp;
  FaultInjectionEnv env;
  auto f = Create(&env, tmp.Sub("a"));
  ASSERT_TRUE(env.SyncDir(tmp.path()).ok());
  ASSERT_TRUE(f->Append("durable").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->Append("-lost").ok());
  env.Crash();
  EXPECT_FALSE(f->Append("x").ok());
  EXPECT_FALSE(f->Sync().ok());
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_EQ("durable", Slurp(&env, tmp.Sub("a")));
}

TEST(FaultInjectionEnvTest, UnsyncedDirectoryEntryDisappears) {
  TempDir tmp;
  FaultInjectionEnv env;
  auto f = Create(&env, tmp.Sub("new"));
  ASSERT_TRUE(f->Append("data").ok());
  ASSERT_TRUE(f->Sync().ok());  // data synced, but the name is not
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_FALSE(env.FileExists(tmp.Sub("new")));

  auto g = Create(&env, tmp.Sub("tmp"));
  ASSERT_TRUE(g->Sync().ok());
  ASSERT_TRUE(env.SyncDir(tmp.path()).ok());
  ASSERT_TRUE(env.RenameFile(tmp.Sub("tmp"), tmp.Sub("renamed")).ok());
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_FALSE(env.FileExists(tmp.Sub("renamed")));
}

TEST(FaultInjectionEnvTest, OverwrittenBytesAreRestored) {
  TempDir tmp;
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), tmp.Sub("p"), std::string(8, '0')).ok());
  FaultInjectionEnv env;
  auto f = env.ReopenWritableFile(tmp.Sub("p"), 2);
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->Append("ab").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Append("cdefgh").ok());  // overwrites 4 zeros, extends by 2
  EXPECT_EQ("00abcdefgh", Slurp(&env, tmp.Sub("p")));
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_EQ("00ab0000", Slurp(&env, tmp.Sub("p")));
}

TEST(FaultInjectionEnvTest, TornDropKeepsAPrefixOfUnsyncedBytes) {
  TempDir tmp;
  std::set<size_t> sizes;
  for (uint32_t seed = 0; seed < 20; seed++) {
    FaultInjectionEnv env(Env::Default(), seed);
    const std::string p = tmp.Sub("t" + std::to_string(seed));
    auto f = Create(&env, p);
    ASSERT_TRUE(f->Append("sync").ok());
    ASSERT_TRUE(f->Sync().ok());
    ASSERT_TRUE(env.SyncDir(tmp.path()).ok());
    ASSERT_TRUE(f->Append("0123456789").ok());
    ASSERT_TRUE(env.DropUnsyncedData(/*torn=*/true).ok());
    std::string got = Slurp(&env, p);
    ASSERT_GE(got.size(), 4u);
    EXPECT_EQ(std::string("sync0123456789").substr(0, got.size()), got);
    sizes.insert(got.size());
  }
  EXPECT_GT(sizes.size(), 3u);  // really random, not always all or nothing
}

}  // namespace
}  // namespace stemedb
