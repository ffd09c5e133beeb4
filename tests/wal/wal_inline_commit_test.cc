// INLINE COMMIT (wal/wal.h): an idle log lets the appender write and sync
// its own record; under concurrency the writer thread groups records as
// before. Both paths share one group token, so LSNs stay dense and ordered
// and every acknowledged record replays. (The fault contract on the inline
// path is covered by wal_fault_test's InlineCommit variants.)
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "tests/util/temp_dir.h"
#include "tests/wal/wal_test_options.h"
#include "wal/wal.h"

namespace stemedb::wal {
namespace {

using stemedb::testing::TempDir;

WalOptions InlineOptions(const std::string& dir) {
  WalOptions o = testing::SmallSegmentOptions(dir);
  o.inline_commit = true;
  // These tests are about the inline path, not about the gate that turns it
  // off on a slow disk: a loaded test machine's fdatasync must not decide.
  o.inline_commit_max_sync = std::chrono::hours(1);
  return o;
}

std::map<uint64_t, std::string> ReplayAll(const WalOptions& o) {
  auto wal = Wal::Open(o, nullptr);
  EXPECT_TRUE(wal) << wal.error().ToString();
  std::map<uint64_t, std::string> out;
  Status s = (*wal)->Replay(Lsn(1), [&](const ReplayedRecord& r) {
    out.emplace(r.lsn.value(), std::string(r.payload));
    return Status::OK();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// 300 bytes, so 20 of them fill more than one 4 KiB segment.
std::string Record(uint64_t i) {
  std::string p = "r" + std::to_string(i);
  p.resize(300, '.');
  return p;
}

TEST(WalInlineCommitTest, IdleLogCommitsOnTheAppenderBeforeAppendReturns) {
  TempDir tmp;
  const WalOptions o = InlineOptions(tmp.path());
  {
    auto wal = std::move(*Wal::Open(o, nullptr));
    for (uint64_t i = 1; i <= 20; ++i) {
      std::thread::id ran_on;
      Lsn got;
      bool called = false;
      wal->AppendAsync(Record(i), [&](Result<Lsn> r) {
        ASSERT_TRUE(r) << r.error().ToString();
        ran_on = std::this_thread::get_id();
        got = *r;
        called = true;
      });
      // Completed before AppendAsync returned, on this thread, and durable.
      ASSERT_TRUE(called) << "append " << i << " was not committed inline";
      EXPECT_EQ(std::this_thread::get_id(), ran_on);
      EXPECT_EQ(Lsn(i), got);
      EXPECT_EQ(Lsn(i), wal->stats().durable_lsn);
    }
    const WalStats st = wal->stats();
    EXPECT_EQ(20u, st.groups);
    EXPECT_EQ(20u, st.inline_groups);
    EXPECT_GE(st.fsyncs, 20u);
    EXPECT_GT(st.segments, 1u);  // rotations happened on the inline path too
    ASSERT_TRUE(wal->Close().ok());
  }
  auto records = ReplayAll(o);
  ASSERT_EQ(20u, records.size());
  for (uint64_t i = 1; i <= 20; ++i) EXPECT_EQ(Record(i), records[i]);
}

// An appender that says more follow (a pipelining client's requests) is
// never committed inline, even on an idle log: its records go to the writer
// thread, which may group them.
TEST(WalInlineCommitTest, MoreFollowsGoesToTheWriterThread) {
  TempDir tmp;
  const WalOptions o = InlineOptions(tmp.path());
  auto wal = std::move(*Wal::Open(o, nullptr));
  std::vector<std::promise<std::thread::id>> ran_on(8);
  for (size_t i = 0; i < ran_on.size(); ++i) {
    wal->AppendAsync(
        Record(i),
        [&ran_on, i](Result<Lsn> r) {
          EXPECT_TRUE(r);
          ran_on[i].set_value(std::this_thread::get_id());
        },
        AppendHint::kMoreFollows);
  }
  for (auto& p : ran_on) EXPECT_NE(std::this_thread::get_id(), p.get_future().get());
  const WalStats st = wal->stats();
  EXPECT_EQ(0u, st.inline_groups);
  EXPECT_EQ(Lsn(8), st.durable_lsn);
  ASSERT_TRUE(wal->Close().ok());
}

TEST(WalInlineCommitTest, OnlyWithSyncPolicyAlways) {
  TempDir tmp;
  WalOptions o = InlineOptions(tmp.path());
  o.sync_policy = SyncPolicy::kNone;
  auto wal = std::move(*Wal::Open(o, nullptr));
  std::promise<std::thread::id> ran_on;
  wal->AppendAsync("x", [&](Result<Lsn> r) {
    EXPECT_TRUE(r);
    ran_on.set_value(std::this_thread::get_id());
  });
  EXPECT_NE(std::this_thread::get_id(), ran_on.get_future().get());
  EXPECT_EQ(0u, wal->stats().inline_groups);
  ASSERT_TRUE(wal->Close().ok());
}

// Holds the first fdatasync's caller (the inline committer) until released,
// so appends made meanwhile must queue behind the group token.
class GateProbe : public WalProbe {
 public:
  void OnFsync(std::chrono::nanoseconds) override {
    if (first_.exchange(false)) {
      entered_.set_value();
      release_.wait();
    }
  }
  std::promise<void> entered_;
  std::shared_future<void> release_;

 private:
  std::atomic<bool> first_{true};
};

TEST(WalInlineCommitTest, AppendsDuringAnInlineCommitQueueForTheWriterInLsnOrder) {
  TempDir tmp;
  WalOptions o = InlineOptions(tmp.path());
  o.segment_bytes = 1 << 20;
  GateProbe probe;
  std::promise<void> release;
  probe.release_ = release.get_future().share();
  o.probe = &probe;
  auto wal = std::move(*Wal::Open(o, nullptr));

  std::thread::id inline_thread;
  Lsn inline_lsn;
  std::thread appender([&] {
    inline_thread = std::this_thread::get_id();
    auto r = wal->Append("first");  // inline: blocks in the probe, holding the token
    ASSERT_TRUE(r);
    inline_lsn = *r;
  });
  probe.entered_.get_future().wait();

  std::mutex mu;
  std::vector<std::pair<uint64_t, std::thread::id>> later;  // in callback order
  std::promise<void> all_done;
  for (int i = 0; i < 5; ++i) {
    wal->AppendAsync("queued" + std::to_string(i), [&](Result<Lsn> r) {
      ASSERT_TRUE(r);
      std::lock_guard<std::mutex> l(mu);
      later.emplace_back(r->value(), std::this_thread::get_id());
      if (later.size() == 5) all_done.set_value();
    });
  }
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_TRUE(later.empty()) << "a queued append completed while the token was held";
  }
  release.set_value();
  appender.join();
  all_done.get_future().wait();

  EXPECT_EQ(Lsn(1), inline_lsn);
  ASSERT_EQ(5u, later.size());
  for (size_t i = 0; i < later.size(); ++i) {
    EXPECT_EQ(i + 2, later[i].first);  // after the inline record, in queue order
    EXPECT_NE(std::this_thread::get_id(), later[i].second);
    EXPECT_NE(inline_thread, later[i].second);  // the writer thread took them
  }
  const WalStats st = wal->stats();
  EXPECT_EQ(2u, st.groups);  // the inline group of one, then one group of five
  EXPECT_EQ(1u, st.inline_groups);
  ASSERT_TRUE(wal->Close().ok());
  auto records = ReplayAll(o);
  ASSERT_EQ(6u, records.size());
  EXPECT_EQ("first", records[1]);
  for (int i = 0; i < 5; ++i) EXPECT_EQ("queued" + std::to_string(i), records[2 + i]);
}

// Many appenders with inline commits on: whichever path each group took,
// LSNs are exactly 1..N, each thread's own appends get increasing LSNs, and
// the log replays exactly what was acknowledged (rotations included).
TEST(WalInlineCommitTest, ConcurrentAppendersMixBothPathsAndReplayEqualsAcks) {
  TempDir tmp;
  const WalOptions o = InlineOptions(tmp.path());
  constexpr int kThreads = 8, kPerThread = 250;
  std::mutex mu;
  std::map<uint64_t, std::string> acked;
  {
    auto wal = std::move(*Wal::Open(o, nullptr));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        uint64_t last = 0;
        for (int i = 0; i < kPerThread; ++i) {
          // Every other thread pauses now and then, so the log goes idle and
          // inline commits keep happening between the writer's groups.
          if (t % 2 == 0 && i % 10 == 0)
            std::this_thread::sleep_for(std::chrono::microseconds(300));
          std::string p = "t" + std::to_string(t) + "-" + std::to_string(i);
          auto r = wal->Append(p);
          ASSERT_TRUE(r) << r.error().ToString();
          EXPECT_GT(r->value(), last);
          last = r->value();
          std::lock_guard<std::mutex> l(mu);
          EXPECT_TRUE(acked.emplace(r->value(), p).second);
        }
      });
    }
    for (auto& t : threads) t.join();
    const WalStats st = wal->stats();
    EXPECT_EQ(Lsn(kThreads * kPerThread), st.last_lsn);
    EXPECT_GT(st.inline_groups, 0u);
    EXPECT_LT(st.inline_groups, st.groups);  // the writer thread grouped some
    ASSERT_TRUE(wal->Close().ok());
  }
  ASSERT_EQ(static_cast<size_t>(kThreads * kPerThread), acked.size());
  EXPECT_EQ(1u, acked.begin()->first);
  EXPECT_EQ(static_cast<uint64_t>(kThreads * kPerThread), acked.rbegin()->first);
  EXPECT_EQ(acked, ReplayAll(o));
}

}  // namespace
}  // namespace stemedb::wal
