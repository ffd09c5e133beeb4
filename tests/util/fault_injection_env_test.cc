#include "util/fault_injection_env.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

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
  EXPECT_TRUE(env.ConfigureFromSpec("sync_delay_ms=1,path_contains=.wal").ok());
  EXPECT_TRUE(env.ConfigureFromSpec("sync_delay_count=3,sync_delay_ms=1").ok());
  EXPECT_EQ(Status::Code::kInvalidArgument, env.ConfigureFromSpec("sync_delay_ms=slow").code());
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

// Records the directory primitives CreateDirs is built from, in order.
class DirCallLog : public EnvWrapper {
 public:
  explicit DirCallLog(Env* target) : EnvWrapper(target) {}
  Result<bool> CreateDir(const std::string& d) override {
    auto made = EnvWrapper::CreateDir(d);
    calls.push_back("mkdir " + d + (made && *made ? "" : " (exists)"));
    return made;
  }
  Status SyncDir(const std::string& d) override {
    calls.push_back("sync " + d);
    return EnvWrapper::SyncDir(d);
  }
  std::vector<std::string> calls;
};

TEST(FaultInjectionEnvTest, CreateDirsSyncsTheParentOfEachNewLevelDeepestFirst) {
  TempDir tmp;
  DirCallLog log(Env::Default());
  const std::string t = tmp.path();
  ASSERT_TRUE(log.CreateDirs(t + "/a/b/c").ok());
  EXPECT_EQ(
      (std::vector<std::string>{"mkdir " + t + "/a", "mkdir " + t + "/a/b", "mkdir " + t + "/a/b/c",
                                "sync " + t + "/a/b", "sync " + t + "/a", "sync " + t}),
      std::vector<std::string>(log.calls.end() - 6, log.calls.end()));
  log.calls.clear();
  ASSERT_TRUE(log.CreateDirs(t + "/a/b/c/").ok());  // exists: nothing to sync
  for (const auto& c : log.calls) EXPECT_EQ(std::string::npos, c.find("sync")) << c;
  log.calls.clear();
  ASSERT_TRUE(log.CreateDirs(t + "/a/d").ok());  // only the new level
  EXPECT_EQ("sync " + t + "/a", log.calls.back());
  EXPECT_EQ("mkdir " + t + "/a/d", log.calls[log.calls.size() - 2]);
}

TEST(FaultInjectionEnvTest, UnsyncedMkdirLosesItsWholeSubtree) {
  TempDir tmp;
  FaultInjectionEnv env;
  const std::string a = tmp.Sub("a");
  ASSERT_TRUE(env.CreateDir(a).value());  // a bare mkdir: not durable yet
  ASSERT_TRUE(env.CreateDir(a + "/b").value());
  auto f = Create(&env, a + "/b/f");
  ASSERT_TRUE(f->Append("synced").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(env.SyncDir(a + "/b").ok());  // f's entry in b is durable, b's in a is not
  ASSERT_TRUE(env.SyncDir(a).ok());         // b's entry in a is, a's in tmp is not
  env.Crash();
  EXPECT_FALSE(env.CreateDir(tmp.Sub("late")));
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_FALSE(env.FileExists(a));
  EXPECT_TRUE(env.FileExists(tmp.path()));  // not made through the Env: durable
}

TEST(FaultInjectionEnvTest, SyncingTheParentMakesAMkdirDurable) {
  TempDir tmp;
  FaultInjectionEnv env;
  ASSERT_TRUE(env.CreateDir(tmp.Sub("kept")).value());
  ASSERT_TRUE(env.SyncDir(tmp.path() + "/").ok());
  ASSERT_TRUE(env.CreateDir(tmp.Sub("kept/lost")).value());
  EXPECT_FALSE(env.CreateDir(tmp.Sub("kept")).value());  // exists: not made again
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_TRUE(env.FileExists(tmp.Sub("kept")));
  EXPECT_FALSE(env.FileExists(tmp.Sub("kept/lost")));
}

TEST(FaultInjectionEnvTest, CreateDirsSurvivesPowerLossWithWhatIsSyncedInside) {
  TempDir tmp;
  FaultInjectionEnv env;
  const std::string d = tmp.Sub("data/wal");
  ASSERT_TRUE(env.CreateDirs(d).ok());
  auto f = Create(&env, d + "/000001.log");
  ASSERT_TRUE(f->Append("acknowledged").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(env.SyncDir(d).ok());
  ASSERT_TRUE(f->Append("-unsynced").ok());
  env.Crash();
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_EQ("acknowledged", Slurp(&env, d + "/000001.log"));
}

TEST(FaultInjectionEnvTest, RenamedDirectoryCarriesItsTracking) {
  TempDir tmp;
  FaultInjectionEnv env;
  ASSERT_TRUE(env.CreateDirs(tmp.Sub("d.tmp")).ok());
  auto f = Create(&env, tmp.Sub("d.tmp/f"));
  ASSERT_TRUE(f->Append("x").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(env.SyncDir(tmp.Sub("d.tmp")).ok());
  ASSERT_TRUE(f->Append("y").ok());  // unsynced: tracked as d/f after the rename
  ASSERT_TRUE(f->Close().ok());
  ASSERT_TRUE(env.RenameFile(tmp.Sub("d.tmp"), tmp.Sub("d")).ok());
  ASSERT_TRUE(env.SyncDir(tmp.path()).ok());
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_FALSE(env.FileExists(tmp.Sub("d.tmp")));
  EXPECT_EQ("x", Slurp(&env, tmp.Sub("d/f")));

  // The same rename without the directory sync loses the new name.
  ASSERT_TRUE(env.CreateDirs(tmp.Sub("e.tmp")).ok());
  ASSERT_TRUE(WriteFileAtomically(&env, tmp.Sub("e.tmp/f"), "z").ok());
  ASSERT_TRUE(env.RenameFile(tmp.Sub("e.tmp"), tmp.Sub("e")).ok());
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_FALSE(env.FileExists(tmp.Sub("e")));
}

}  // namespace
}  // namespace stemedb
