#include "api/disk_monitor.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "api/metrics.h"

namespace stemedb::api {
namespace {

// Free space on demand, per path; a path set to an error fails statfs.
class FakeSpaceEnv : public EnvWrapper {
 public:
  FakeSpaceEnv() : EnvWrapper(Env::Default()) {}
  void Set(const std::string& path, uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    free_[path] = bytes;
    fail_.erase(path);
  }
  void Fail(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_[path] = true;
  }
  Result<uint64_t> GetFreeSpace(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_.count(path)) return Status::IOError("statfs " + path + ": EIO");
    return free_[path];
  }

 private:
  std::mutex mu_;
  std::map<std::string, uint64_t> free_;
  std::map<std::string, bool> fail_;
};

constexpr uint64_t kFloor = 1000;

TEST(DiskMonitorTest, LowVolumeBlocksWritesAndRecoversByItself) {
  FakeSpaceEnv env;
  env.Set("/wal", 5000);
  env.Set("/db", 5000);
  DiskMonitor m(&env, {{"wal", "/wal"}, {"db", "/db"}}, kFloor, nullptr);
  m.PollOnce();
  EXPECT_TRUE(m.writes_allowed());

  env.Set("/db", kFloor - 1);
  m.PollOnce();
  EXPECT_FALSE(m.writes_allowed());
  auto snap = m.Snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_FALSE(snap[0].low);
  EXPECT_TRUE(snap[1].low);
  EXPECT_EQ(snap[1].free_bytes, kFloor - 1);

  env.Set("/db", kFloor);  // exactly the floor is enough
  m.PollOnce();
  EXPECT_TRUE(m.writes_allowed());
}

TEST(DiskMonitorTest, EitherVolumeLowBlocksWrites) {
  FakeSpaceEnv env;
  env.Set("/wal", 10);
  env.Set("/db", 5000);
  DiskMonitor m(&env, {{"wal", "/wal"}, {"db", "/db"}}, kFloor, nullptr);
  m.PollOnce();
  EXPECT_FALSE(m.writes_allowed());
}

TEST(DiskMonitorTest, StatfsErrorKeepsPreviousVerdict) {
  FakeSpaceEnv env;
  env.Set("/wal", 10);
  DiskMonitor m(&env, {{"wal", "/wal"}}, kFloor, nullptr);
  m.PollOnce();
  EXPECT_FALSE(m.writes_allowed());
  env.Fail("/wal");
  m.PollOnce();
  EXPECT_FALSE(m.writes_allowed());  // still low: an error does not unblock
  env.Set("/wal", 5000);
  m.PollOnce();
  EXPECT_TRUE(m.writes_allowed());
  env.Fail("/wal");
  m.PollOnce();
  EXPECT_TRUE(m.writes_allowed());  // and does not block either
}

TEST(DiskMonitorTest, StartPollsAtOnceAndThreadRecovers) {
  FakeSpaceEnv env;
  env.Set("/wal", 10);
  DiskMonitor m(&env, {{"wal", "/wal"}}, kFloor, nullptr, std::chrono::milliseconds(5));
  m.Start();
  EXPECT_FALSE(m.writes_allowed());  // verdict is right before the first request
  env.Set("/wal", 5000);
  for (int i = 0; i < 2000 && !m.writes_allowed(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(m.writes_allowed());
  m.Stop();
}

TEST(DiskMonitorTest, PublishesFreeBytesMetric) {
  FakeSpaceEnv env;
  env.Set("/wal", 123456);
  env.Set("/db", 654321);
  Metrics metrics;
  DiskMonitor m(&env, {{"wal", "/wal"}, {"db", "/db"}}, kFloor, &metrics);
  m.PollOnce();
  std::string text = metrics.Render();
  EXPECT_NE(text.find("stemedb_disk_free_bytes{volume=\"wal\"} 123456"), std::string::npos) << text;
  EXPECT_NE(text.find("stemedb_disk_free_bytes{volume=\"db\"} 654321"), std::string::npos);
}

TEST(DiskMonitorTest, RealVolumeHasSpace) {
  DiskMonitor m(Env::Default(), {{"tmp", "/tmp"}}, 0, nullptr);
  m.PollOnce();
  auto snap = m.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_TRUE(snap[0].known);
  EXPECT_GT(snap[0].free_bytes, 0u);
  EXPECT_TRUE(m.writes_allowed());
}

}  // namespace
}  // namespace stemedb::api
