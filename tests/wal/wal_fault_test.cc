// The FAILURE CONTRACT of wal/wal.h under injected faults (EIO from
// fdatasync, ENOSPC, a failing directory sync) and simulated power loss.
// Every test runs twice: groups written by the writer thread only, and with
// inline commits (WalOptions::inline_commit), where an idle log's appender
// writes and syncs its own record: the contract is the same on both paths.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "tests/util/temp_dir.h"
#include "tests/wal/wal_test_options.h"
#include "util/fault_injection_env.h"
#include "wal/wal.h"

namespace stemedb::wal {
namespace {

using stemedb::testing::TempDir;

// Set per test from the parameter (see WalFaultTest below).
bool g_inline_commit = false;

WalOptions Options(const std::string& dir, Env* env) {
  WalOptions o = testing::SmallSegmentOptions(dir, env);
  o.inline_commit = g_inline_commit;
  return o;
}

std::map<uint64_t, std::string> ReplayAll(Wal* wal) {
  std::map<uint64_t, std::string> out;
  uint64_t expect = 0;
  Status s = wal->Replay(Lsn(1), [&](const ReplayedRecord& r) {
    if (expect != 0) {
      EXPECT_EQ(expect, r.lsn.value());
    }
    expect = r.lsn.value() + 1;
    out.emplace(r.lsn.value(), std::string(r.payload));
    return Status::OK();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// Appends from `threads` threads until each has done `per_thread`; returns
// what was acknowledged, and counts errors.
struct Outcome {
  std::map<uint64_t, std::string> acked;
  std::vector<Status> errors;
};
Outcome Hammer(Wal* wal, int threads, int per_thread, size_t size = 60) {
  Outcome out;
  std::mutex mu;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; i++) {
        std::string p = "t" + std::to_string(t) + "." + std::to_string(i);
        p.resize(size, '.');
        auto r = wal->Append(p);
        std::lock_guard<std::mutex> l(mu);
        if (r) {
          out.acked.emplace(r->value(), p);
        } else {
          out.errors.push_back(r.error());
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  return out;
}

class WalFaultTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { g_inline_commit = GetParam(); }
  void TearDown() override { g_inline_commit = false; }
};

TEST_P(WalFaultTest, FdatasyncEioFailStops) {
  TempDir tmp;
  FaultInjectionEnv env;
  auto wal = std::move(*Wal::Open(Options(tmp.path(), &env), nullptr));
  env.FailSyncAfter(5);
  Outcome out = Hammer(wal.get(), 8, 30);
  EXPECT_FALSE(wal->healthy());
  EXPECT_EQ(Status::Code::kFailed, wal->failure().code());
  ASSERT_FALSE(out.errors.empty());
  for (const auto& e : out.errors) EXPECT_EQ(Status::Code::kFailed, e.code()) << e.ToString();
  // Only the five synced groups were acknowledged, with consecutive LSNs.
  EXPECT_LE(wal->stats().groups, 5u);
  // The very first append finds the log idle: inline when enabled.
  EXPECT_EQ(GetParam(), wal->stats().inline_groups > 0);
  ASSERT_FALSE(out.acked.empty());
  EXPECT_EQ(1u, out.acked.begin()->first);
  EXPECT_EQ(out.acked.size(), out.acked.rbegin()->first);
  // Every later append fails too: no retry of the sync, ever.
  env.Reset();
  auto late = wal->Append("after");
  ASSERT_FALSE(late);
  EXPECT_EQ(Status::Code::kFailed, late.error().code());
  EXPECT_FALSE(wal->Close().ok());
  // A restart re-verifies: everything acknowledged is there.
  wal = std::move(*Wal::Open(Options(tmp.path(), &env), nullptr));
  auto replayed = ReplayAll(wal.get());
  for (const auto& [lsn, p] : out.acked) EXPECT_EQ(p, replayed[lsn]) << lsn;
  EXPECT_TRUE(wal->healthy());
}

TEST_P(WalFaultTest, EnospcOnWriteIsNoSpaceAndRecoversWhenSpaceReturns) {
  for (bool short_write : {false, true}) {
    SCOPED_TRACE(short_write ? "short write" : "nothing written");
    TempDir tmp;
    FaultInjectionEnv env;
    auto wal = std::move(*Wal::Open(Options(tmp.path(), &env), nullptr));
    env.FailAppendAfterBytes(500, short_write);
    std::vector<Result<Lsn>> results;
    for (int i = 0; i < 20; i++) results.push_back(wal->Append(std::string(100, 'x')));
    size_t ok = 0;
    while (ok < results.size() && results[ok]) ok++;
    EXPECT_EQ(4u, ok);  // 4 x (20 + 100) bytes fit in 500
    for (size_t i = ok; i < results.size(); i++) {
      ASSERT_FALSE(results[i]);
      EXPECT_TRUE(results[i].error().IsNoSpace()) << results[i].error().ToString();
    }
    // Not fail-stopped: a refused write(2) left nothing behind (the partial
    // bytes of a short write were cut off again) and consumed no LSN.
    EXPECT_TRUE(wal->healthy());
    env.FailAppendAfterBytes(UINT64_MAX, false);  // space returns
    auto later = wal->Append("fits now");
    ASSERT_TRUE(later) << later.error().ToString();
    EXPECT_EQ(Lsn(5), *later);
    ASSERT_TRUE(wal->Close().ok());
    env.Reset();
    RecoveryReport report;
    wal = std::move(*Wal::Open(Options(tmp.path(), &env), &report));
    EXPECT_FALSE(report.truncated_tail);  // the segment is clean: no torn tail
    auto replayed = ReplayAll(wal.get());
    ASSERT_EQ(5u, replayed.size());
    EXPECT_EQ("fits now", replayed[5]);
  }
}

TEST_P(WalFaultTest, EnospcThenPowerLossKeepsEveryAcknowledgedRecord) {
  TempDir tmp;
  FaultInjectionEnv env;
  auto wal = std::move(*Wal::Open(Options(tmp.path(), &env), nullptr));
  env.FailAppendAfterBytes(700, true);
  std::map<uint64_t, std::string> acked;
  for (int i = 0; i < 10; i++) {
    std::string p(100, static_cast<char>('a' + i));
    auto r = wal->Append(p);
    if (r) acked.emplace(r->value(), p);
  }
  env.Crash();
  ASSERT_TRUE(env.DropUnsyncedData(/*torn=*/true).ok());
  wal->Close().IgnoreError("the file system is gone");
  wal.reset();
  env.Reset();
  wal = std::move(*Wal::Open(Options(tmp.path(), &env), nullptr));
  EXPECT_EQ(acked, ReplayAll(wal.get()));
}

TEST_P(WalFaultTest, EnospcWhilePreallocatingIsNotFatal) {
  TempDir tmp;
  FaultInjectionEnv env;
  env.SetPathFilter("prealloc");
  env.FailAppendAfterBytes(0, false);
  auto o = Options(tmp.path(), &env);
  o.preallocate_next_segment = true;
  auto wal = std::move(*Wal::Open(o, nullptr));
  std::map<uint64_t, std::string> acked;
  Status nospace;
  for (int i = 0; i < 100 && nospace.ok(); i++) {
    std::string p(200, static_cast<char>('a' + i % 26));
    auto r = wal->Append(p);
    if (r) {
      acked.emplace(r->value(), p);
    } else {
      nospace = r.error();
    }
  }
  ASSERT_TRUE(nospace.IsNoSpace()) << nospace.ToString();
  EXPECT_TRUE(wal->healthy());
  EXPECT_EQ(1u, wal->SegmentFiles().size());
  // Space comes back: the next append preallocates, rotates and succeeds,
  // and takes the LSN the failed one did not consume.
  env.FailAppendAfterBytes(UINT64_MAX, false);
  auto r = wal->Append("later");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(acked.size() + 1, r->value());
  acked.emplace(r->value(), "later");
  EXPECT_EQ(2u, wal->SegmentFiles().size());
  ASSERT_TRUE(wal->Close().ok());
  wal = std::move(*Wal::Open(o, nullptr));
  EXPECT_EQ(acked, ReplayAll(wal.get()));
}

TEST_P(WalFaultTest, SyncDirFailureAtRotationFailStops) {
  TempDir tmp;
  FaultInjectionEnv env;
  auto wal = std::move(*Wal::Open(Options(tmp.path(), &env), nullptr));
  env.FailSyncDirAfter(0);
  Status failure;
  uint64_t acked = 0;
  for (int i = 0; i < 100 && failure.ok(); i++) {
    auto r = wal->Append(std::string(200, 'r'));
    if (r) {
      acked = r->value();
    } else {
      failure = r.error();
    }
  }
  EXPECT_EQ(Status::Code::kFailed, failure.code()) << failure.ToString();
  EXPECT_FALSE(wal->healthy());
  EXPECT_GT(acked, 0u);
  EXPECT_FALSE(wal->Append("x"));
}

// STYLE 10: fail the n-th sync (counting Open's own) for n = 0, 1, 2, ...
// until nothing fails; each time the error is clean, nothing after it is
// acknowledged, and the directory recovers with every acknowledged record.
TEST_P(WalFaultTest, FailTheNthSyncOrDirSync) {
  for (bool dir : {false, true}) {
    for (uint64_t n = 0;; n++) {
      TempDir tmp;
      FaultInjectionEnv env;
      if (dir) {
        env.FailSyncDirAfter(n);
      } else {
        env.FailSyncAfter(n);
      }
      auto o = Options(tmp.path(), &env);
      o.segment_bytes = 4096;
      std::map<uint64_t, std::string> acked;
      bool failed = false;
      auto wal = Wal::Open(o, nullptr);
      if (!wal) {
        failed = true;
        EXPECT_EQ(Status::Code::kIOError, wal.error().code()) << wal.error().ToString();
      } else {
        for (int i = 0; i < 20; i++) {  // 20 x 220 bytes: one rotation
          std::string p = std::to_string(i) + std::string(200, 'n');
          auto r = (*wal)->Append(p);
          if (!r) {
            failed = true;
            EXPECT_EQ(Status::Code::kFailed, r.error().code()) << r.error().ToString();
            EXPECT_FALSE((*wal)->healthy());
          } else {
            EXPECT_FALSE(failed) << "acknowledged after a failure, n=" << n;
            acked.emplace(r->value(), p);
          }
        }
        (*wal)->Close().IgnoreError("may be fail-stopped; checked above");
      }
      env.Reset();
      auto reopened = Wal::Open(o, nullptr);
      ASSERT_TRUE(reopened) << "n=" << n << ": " << reopened.error().ToString();
      auto replayed = ReplayAll(reopened->get());
      for (const auto& [lsn, p] : acked) EXPECT_EQ(p, replayed[lsn]) << "n=" << n;
      if (!failed) break;
      ASSERT_LT(n, 200u);
    }
  }
}

// Power loss: appends with sync policy always from several threads; at a
// random point the file system freezes and everything not synced (data and
// directory entries) is dropped, possibly leaving torn partial writes. After
// a restart every acknowledged record is there, byte for byte.
TEST_P(WalFaultTest, PowerLossKeepsEveryAcknowledgedRecord) {
  std::mt19937 rng(20261122);
  for (int iter = 0; iter < 12; iter++) {
    TempDir tmp;
    FaultInjectionEnv env(Env::Default(), static_cast<uint32_t>(iter));
    auto o = Options(tmp.path(), &env);
    o.preallocate_next_segment = iter % 2 == 1;
    o.segment_bytes = 8192;
    auto wal = std::move(*Wal::Open(o, nullptr));
    const uint64_t crash_after = std::uniform_int_distribution<uint64_t>(0, 300)(rng);
    std::atomic<uint64_t> acks{0};
    std::mutex mu;
    std::map<uint64_t, std::string> acked;
    std::atomic<bool> stop{false};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++) {
      ts.emplace_back([&, t] {
        for (int i = 0; !stop; i++) {
          std::string p = "i" + std::to_string(iter) + "t" + std::to_string(t) + "n" +
                          std::to_string(i) + std::string(static_cast<size_t>(i % 97), '#');
          auto r = wal->Append(p);
          if (!r) return;
          std::lock_guard<std::mutex> l(mu);
          acked.emplace(r->value(), p);
          acks++;
        }
      });
    }
    while (acks < crash_after) std::this_thread::yield();
    env.Crash();
    ASSERT_TRUE(env.DropUnsyncedData(/*torn=*/iter % 3 != 0).ok());
    stop = true;
    for (auto& t : ts) t.join();
    wal->Close().IgnoreError("fail-stopped; its status is checked above");
    wal.reset();
    env.Reset();
    auto reopened = Wal::Open(o, nullptr);
    ASSERT_TRUE(reopened) << "iter " << iter << ": " << reopened.error().ToString();
    auto replayed = ReplayAll(reopened->get());
    for (const auto& [lsn, p] : acked) {
      auto it = replayed.find(lsn);
      ASSERT_NE(it, replayed.end()) << "iter " << iter << " lost acknowledged lsn " << lsn;
      EXPECT_EQ(p, it->second);
    }
    // The log goes on after the last surviving record.
    auto next = (*reopened)->Append("after restart");
    ASSERT_TRUE(next);
    EXPECT_EQ(replayed.empty() ? 1u : replayed.rbegin()->first + 1, next->value());
  }
}

// Power loss right after the first Open of a WAL directory that Open itself
// created (with its parent): the directory entries are part of what makes a
// record durable. Every acknowledged record survives, and no record is
// acknowledged while an entry it depends on could still vanish.
TEST_P(WalFaultTest, PowerLossAfterFirstOpenKeepsTheNewDirectory) {
  for (bool prealloc : {false, true}) {
    TempDir tmp;
    FaultInjectionEnv env;
    auto o = Options(tmp.Sub("data/wal"), &env);
    o.preallocate_next_segment = prealloc;
    auto wal = std::move(*Wal::Open(o, nullptr));
    Outcome out = Hammer(wal.get(), 2, 40, 100);  // 8000 bytes: rotates
    ASSERT_TRUE(out.errors.empty()) << out.errors[0].ToString();
    env.Crash();
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    wal->Close().IgnoreError("the file system is frozen");
    wal.reset();
    env.Reset();
    auto reopened = Wal::Open(o, nullptr);
    ASSERT_TRUE(reopened) << reopened.error().ToString();
    auto replayed = ReplayAll(reopened->get());
    EXPECT_EQ(out.acked.size(), replayed.size()) << "preallocate " << prealloc;
    for (const auto& [lsn, p] : out.acked) EXPECT_EQ(p, replayed[lsn]) << "lsn " << lsn;
  }
}

INSTANTIATE_TEST_SUITE_P(CommitPaths, WalFaultTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "InlineCommit" : "WriterThread";
                         });

}  // namespace
}  // namespace stemedb::wal
