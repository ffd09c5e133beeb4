#include "wal/wal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "tests/util/temp_dir.h"
#include "tests/wal/wal_test_options.h"
#include "wal/log_format.h"

namespace stemedb::wal {
namespace {

using stemedb::testing::TempDir;

WalOptions Options(const std::string& dir) { return testing::SmallSegmentOptions(dir); }

std::unique_ptr<Wal> MustOpen(const WalOptions& o, RecoveryReport* report = nullptr) {
  auto r = Wal::Open(o, report);
  EXPECT_TRUE(r) << (r ? "" : r.error().ToString());
  return r ? std::move(*r) : nullptr;
}

std::vector<std::pair<uint64_t, std::string>> ReplayAll(Wal* wal, Lsn from = Lsn(1)) {
  std::vector<std::pair<uint64_t, std::string>> out;
  Status s = wal->Replay(from, [&](const ReplayedRecord& r) {
    out.emplace_back(r.lsn.value(), std::string(r.payload));
    return Status::OK();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::string Payload(uint64_t i, size_t size = 0) {
  std::string p = "record-" + std::to_string(i);
  if (p.size() < size) p.resize(size, static_cast<char>('a' + i % 26));
  return p;
}

TEST(WalTest, ParseSyncPolicy) {
  EXPECT_EQ(SyncPolicy::kAlways, ParseSyncPolicy("always").value());
  EXPECT_EQ(SyncPolicy::kInterval, ParseSyncPolicy("interval").value());
  EXPECT_EQ(SyncPolicy::kNone, ParseSyncPolicy("none").value());
  EXPECT_FALSE(ParseSyncPolicy("sometimes"));
}

TEST(WalTest, RejectsBadOptions) {
  WalOptions o;
  EXPECT_EQ(Status::Code::kInvalidArgument, Wal::Open(o, nullptr).error().code());
  TempDir tmp;
  o = Options(tmp.path());
  o.segment_bytes = 10;
  EXPECT_EQ(Status::Code::kInvalidArgument, Wal::Open(o, nullptr).error().code());
}

TEST(WalTest, RoundTrip) {
  TempDir tmp;
  auto o = Options(tmp.path());
  {
    auto wal = MustOpen(o);
    EXPECT_EQ(Lsn(0), wal->last_lsn());
    EXPECT_TRUE(wal->healthy());
    for (uint64_t i = 1; i <= 10; i++) EXPECT_EQ(Lsn(i), wal->Append(Payload(i)).value());
    EXPECT_EQ(Lsn(10), wal->last_lsn());
    EXPECT_EQ(Lsn(10), wal->stats().durable_lsn);
    ASSERT_TRUE(wal->Close().ok());
    EXPECT_FALSE(wal->healthy());
    EXPECT_EQ(Status::Code::kUnavailable, wal->Append("late").error().code());
  }
  RecoveryReport report;
  auto wal = MustOpen(o, &report);
  EXPECT_EQ(Lsn(1), report.first_lsn);
  EXPECT_EQ(Lsn(10), report.last_lsn);
  EXPECT_FALSE(report.truncated_tail);
  auto records = ReplayAll(wal.get());
  ASSERT_EQ(10u, records.size());
  for (uint64_t i = 1; i <= 10; i++) {
    EXPECT_EQ(i, records[i - 1].first);
    EXPECT_EQ(Payload(i), records[i - 1].second);
  }
}

TEST(WalTest, EmptyPayloadAndLargePayload) {
  TempDir tmp;
  auto o = Options(tmp.path());
  auto wal = MustOpen(o);
  std::string big(100000, 'x');  // larger than a segment: still one segment
  EXPECT_EQ(Lsn(1), wal->Append("").value());
  EXPECT_EQ(Lsn(2), wal->Append(big).value());
  EXPECT_EQ(Lsn(3), wal->Append("z").value());
  ASSERT_TRUE(wal->Close().ok());
  wal = MustOpen(o);
  auto records = ReplayAll(wal.get());
  ASSERT_EQ(3u, records.size());
  EXPECT_EQ("", records[0].second);
  EXPECT_EQ(big, records[1].second);
  EXPECT_EQ("z", records[2].second);
}

TEST(WalTest, OversizeRecordIsRejectedWithoutConsumingAnLsn) {
  TempDir tmp;
  auto wal = MustOpen(Options(tmp.path()));
  std::string huge(kMaxRecordPayload + 1, 'h');
  auto r = wal->Append(std::move(huge));
  ASSERT_FALSE(r);
  EXPECT_EQ(Status::Code::kInvalidArgument, r.error().code());
  EXPECT_EQ(Lsn(1), wal->Append("ok").value());
  EXPECT_TRUE(wal->healthy());
}

TEST(WalTest, ConcurrentAppendersGetConsecutiveLsnsAndReplayEqualsAcks) {
  TempDir tmp;
  auto o = Options(tmp.path());
  o.segment_bytes = 64 * 1024;
  constexpr int kThreads = 16, kPerThread = 200;
  std::mutex mu;
  std::map<uint64_t, std::string> acked;
  {
    auto wal = MustOpen(o);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; i++) {
          std::string p = "t" + std::to_string(t) + "-" + std::to_string(i);
          auto r = wal->Append(p);
          ASSERT_TRUE(r) << r.error().ToString();
          std::lock_guard<std::mutex> l(mu);
          EXPECT_TRUE(acked.emplace(r->value(), p).second);
        }
      });
    }
    for (auto& t : threads) t.join();
    WalStats st = wal->stats();
    EXPECT_EQ(Lsn(kThreads * kPerThread), st.last_lsn);
    // Group commit: fewer syncs than records (16 threads queue while one syncs).
    EXPECT_LT(st.fsyncs, static_cast<uint64_t>(kThreads * kPerThread));
    EXPECT_GT(st.segments, 1u);
    ASSERT_TRUE(wal->Close().ok());
  }
  ASSERT_EQ(static_cast<size_t>(kThreads * kPerThread), acked.size());
  EXPECT_EQ(1u, acked.begin()->first);
  EXPECT_EQ(static_cast<uint64_t>(kThreads * kPerThread), acked.rbegin()->first);
  auto wal = MustOpen(o);
  auto records = ReplayAll(wal.get());
  ASSERT_EQ(acked.size(), records.size());
  for (const auto& [lsn, payload] : records) EXPECT_EQ(acked[lsn], payload);
}

class RecordingProbe : public WalProbe {
 public:
  void OnFsync(std::chrono::nanoseconds) override { fsyncs++; }
  void OnGroupCommit(size_t records, size_t bytes) override {
    std::lock_guard<std::mutex> l(mu);
    groups.emplace_back(records, bytes);
  }
  std::atomic<int> fsyncs{0};
  std::mutex mu;
  std::vector<std::pair<size_t, size_t>> groups;
};

TEST(WalTest, GroupsRespectMaxGroupBytesAndReportToProbe) {
  TempDir tmp;
  auto o = Options(tmp.path());
  RecordingProbe probe;
  o.probe = &probe;
  o.max_group_bytes = 200;
  o.segment_bytes = 1 << 20;
  auto wal = MustOpen(o);
  std::atomic<int> done{0};
  for (int i = 0; i < 300; i++) {
    wal->AppendAsync(std::string(50, 'g'), [&](Result<Lsn> r) {
      EXPECT_TRUE(r);
      done++;
    });
  }
  wal->AppendAsync(std::string(500, 'b'), [&](Result<Lsn> r) {  // alone above the cap
    EXPECT_TRUE(r);
    done++;
  });
  ASSERT_TRUE(wal->Close().ok());
  EXPECT_EQ(301, done.load());
  size_t records = 0;
  bool saw_multi = false;
  for (auto [n, bytes] : probe.groups) {
    records += n;
    EXPECT_TRUE(bytes <= 200 || n == 1) << n << " records, " << bytes << " bytes";
    saw_multi |= n > 1;
  }
  EXPECT_EQ(301u, records);
  EXPECT_TRUE(saw_multi);
  EXPECT_EQ(probe.groups.size(), wal->stats().groups);
  EXPECT_GE(probe.fsyncs.load(), static_cast<int>(probe.groups.size()));
}

TEST(WalTest, AsyncCallbacksRunInLsnOrder) {
  TempDir tmp;
  auto wal = MustOpen(Options(tmp.path()));
  std::mutex mu;
  std::vector<uint64_t> order;
  std::atomic<int> done{0};
  for (int i = 0; i < 500; i++) {
    wal->AppendAsync(Payload(i), [&](Result<Lsn> r) {
      ASSERT_TRUE(r);
      std::lock_guard<std::mutex> l(mu);
      order.push_back(r->value());
      done++;
    });
  }
  ASSERT_TRUE(wal->Close().ok());  // drains
  ASSERT_EQ(500, done.load());
  for (size_t i = 0; i < order.size(); i++) EXPECT_EQ(i + 1, order[i]);
}

TEST(WalTest, RotationAndSegmentNames) {
  TempDir tmp;
  auto o = Options(tmp.path());
  auto wal = MustOpen(o);
  for (uint64_t i = 1; i <= 200; i++) ASSERT_TRUE(wal->Append(Payload(i, 100)));
  auto files = wal->SegmentFiles();
  ASSERT_GT(files.size(), 3u);
  EXPECT_EQ("0000000000000001.wal", files.front());
  for (const auto& f : files) {
    uint64_t lsn;
    EXPECT_TRUE(ParseSegmentFileName(f, &lsn)) << f;
  }
  EXPECT_TRUE(std::is_sorted(files.begin(), files.end()));
  ASSERT_TRUE(wal->Close().ok());
  wal = MustOpen(o);
  EXPECT_EQ(files, wal->SegmentFiles());
  EXPECT_EQ(200u, ReplayAll(wal.get()).size());
}

TEST(WalTest, ExplicitRotateStartsSegmentAtNextLsn) {
  TempDir tmp;
  auto o = Options(tmp.path());
  o.segment_bytes = 1 << 20;
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal->Rotate().ok());  // empty active segment: nothing to seal
  EXPECT_EQ(1u, wal->SegmentFiles().size());
  for (int i = 0; i < 5; i++) ASSERT_TRUE(wal->Append("x"));
  ASSERT_TRUE(wal->Rotate().ok());
  auto files = wal->SegmentFiles();
  ASSERT_EQ(2u, files.size());
  EXPECT_EQ(SegmentFileName(6), files.back());
  EXPECT_EQ(Lsn(6), wal->Append("y").value());
}

TEST(WalTest, ReplayFromLsn) {
  TempDir tmp;
  auto o = Options(tmp.path());
  {
    auto wal = MustOpen(o);
    for (uint64_t i = 1; i <= 100; i++) ASSERT_TRUE(wal->Append(Payload(i, 150)));
    ASSERT_TRUE(wal->Close().ok());
  }
  auto wal = MustOpen(o);
  for (uint64_t from : {1u, 2u, 37u, 99u, 100u, 101u, 500u}) {
    auto records = ReplayAll(wal.get(), Lsn(from));
    size_t expected = from > 100 ? 0 : 100 - from + 1;
    ASSERT_EQ(expected, records.size()) << from;
    if (!records.empty()) {
      EXPECT_EQ(from, records.front().first);
    }
  }
  // A callback error stops replay and is returned.
  int calls = 0;
  Status s = wal->Replay(Lsn(1), [&](const ReplayedRecord&) {
    return ++calls == 3 ? Status::Conflict("stop") : Status::OK();
  });
  EXPECT_EQ(Status::Code::kConflict, s.code());
  EXPECT_EQ(3, calls);
}

TEST(WalTest, ReopenContinuesLsns) {
  TempDir tmp;
  auto o = Options(tmp.path());
  for (int round = 0; round < 3; round++) {
    auto wal = MustOpen(o);
    EXPECT_EQ(Lsn(round * 10), wal->last_lsn());
    for (int i = 1; i <= 10; i++) EXPECT_EQ(Lsn(round * 10 + i), wal->Append("r").value());
    ASSERT_TRUE(wal->Close().ok());
  }
  auto wal = MustOpen(o);
  EXPECT_EQ(30u, ReplayAll(wal.get()).size());
}

TEST(WalTest, NextLsnFloorOnEmptyDir) {
  TempDir tmp;
  auto o = Options(tmp.path());
  o.next_lsn_floor = Lsn(1000);
  auto wal = MustOpen(o);
  EXPECT_EQ(Lsn(1000), wal->Append("a").value());
  ASSERT_TRUE(wal->Close().ok());
  o.next_lsn_floor = Lsn(1);
  wal = MustOpen(o);
  EXPECT_EQ(Lsn(1001), wal->Append("b").value());
  EXPECT_EQ(2u, ReplayAll(wal.get(), Lsn(1000)).size());
  // Asking for records the log never held is an error, not a silent skip.
  Status s = wal->Replay(Lsn(5), [](const ReplayedRecord&) { return Status::OK(); });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
}

TEST(WalTest, NextLsnFloorAboveExistingLog) {
  TempDir tmp;
  auto o = Options(tmp.path());
  {
    auto wal = MustOpen(o);
    for (int i = 0; i < 3; i++) ASSERT_TRUE(wal->Append("a"));
    ASSERT_TRUE(wal->Close().ok());
  }
  o.next_lsn_floor = Lsn(50);
  {
    auto wal = MustOpen(o);
    EXPECT_EQ(Lsn(50), wal->Append("b").value());
    ASSERT_TRUE(wal->Close().ok());
  }
  o.next_lsn_floor = Lsn(1);
  auto wal = MustOpen(o);  // the declared jump is not mistaken for a lost segment
  auto records = ReplayAll(wal.get());
  ASSERT_EQ(4u, records.size());
  EXPECT_EQ(3u, records[2].first);
  EXPECT_EQ(50u, records[3].first);
}

TEST(WalTest, PurgeObsoleteSegments) {
  TempDir tmp;
  auto o = Options(tmp.path());
  auto wal = MustOpen(o);
  for (uint64_t i = 1; i <= 300; i++) ASSERT_TRUE(wal->Append(Payload(i, 100)));
  auto before = wal->SegmentFiles();
  ASSERT_GT(before.size(), 5u);
  ASSERT_TRUE(wal->PurgeObsoleteSegments(Lsn(0), 0).ok());
  EXPECT_EQ(before, wal->SegmentFiles());
  ASSERT_TRUE(wal->PurgeObsoleteSegments(Lsn(300), 2).ok());
  auto after = wal->SegmentFiles();
  ASSERT_EQ(3u, after.size());  // two sealed kept + the active one
  EXPECT_EQ(before.back(), after.back());
  ASSERT_TRUE(wal->PurgeObsoleteSegments(Lsn(300), 0).ok());
  EXPECT_EQ(1u, wal->SegmentFiles().size());
  ASSERT_TRUE(wal->Close().ok());
  for (const auto& f : before) {
    EXPECT_EQ(f == before.back(), std::filesystem::exists(tmp.Sub(f))) << f;
  }
  wal = MustOpen(o);
  EXPECT_EQ(Lsn(301), wal->Append("next").value());
}

TEST(WalTest, PurgeKeepsSegmentsWithUncoveredRecords) {
  TempDir tmp;
  auto wal = MustOpen(Options(tmp.path()));
  for (uint64_t i = 1; i <= 300; i++) ASSERT_TRUE(wal->Append(Payload(i, 100)));
  ASSERT_TRUE(wal->PurgeObsoleteSegments(Lsn(100), 0).ok());
  auto records = ReplayAll(wal.get(), Lsn(101));
  EXPECT_EQ(200u, records.size());
}

// With hold_unarchived nothing above the archived LSN is purged, however
// much a flush covers; the hold only moves forward.
TEST(WalTest, PurgeHoldsUnarchivedSegments) {
  TempDir tmp;
  auto o = Options(tmp.path());
  o.hold_unarchived = true;
  auto wal = MustOpen(o);
  for (uint64_t i = 1; i <= 300; i++) ASSERT_TRUE(wal->Append(Payload(i, 100)));
  const auto before = wal->SegmentFiles();
  ASSERT_GT(before.size(), 5u);
  ASSERT_TRUE(wal->PurgeObsoleteSegments(Lsn(300), 0).ok());
  EXPECT_EQ(before, wal->SegmentFiles());  // nothing archived yet
  const auto sealed = wal->SealedSegments();
  ASSERT_EQ(sealed.size(), before.size() - 1);
  EXPECT_EQ(sealed[0].first_lsn, Lsn(1));
  for (size_t i = 1; i < sealed.size(); i++) {
    EXPECT_EQ(sealed[i].first_lsn.value(), sealed[i - 1].last_lsn.value() + 1);
  }
  wal->SetArchivedLsn(sealed[1].last_lsn);
  wal->SetArchivedLsn(Lsn(1));  // never backwards
  ASSERT_TRUE(wal->PurgeObsoleteSegments(Lsn(300), 0).ok());
  EXPECT_EQ(wal->SegmentFiles().size(), before.size() - 2);
  EXPECT_EQ(wal->SealedSegments().front().first_lsn.value(), sealed[1].last_lsn.value() + 1);
}

// A segment sealed early (Rotate) keeps no preallocated zeros on disk.
TEST(WalTest, RotateCutsThePreallocatedTail) {
  TempDir tmp;
  auto o = Options(tmp.path());
  o.preallocate_next_segment = true;
  auto wal = MustOpen(o);
  // Fill a segment so the next one gets preallocated, then write a little
  // into that one and seal it early.
  for (uint64_t i = 1; i <= 300; i++) ASSERT_TRUE(wal->Append(Payload(i, 100)));
  for (uint64_t i = 301; i <= 400; i++) ASSERT_TRUE(wal->Append(Payload(i, 100)));
  // The precondition, checked rather than waited for: the active segment came
  // from the preallocator, zero-filled to full size.
  ASSERT_EQ(std::filesystem::file_size(tmp.Sub(wal->SegmentFiles().back())), o.segment_bytes);
  ASSERT_TRUE(wal->Rotate().ok());
  const auto sealed = wal->SealedSegments();
  ASSERT_FALSE(sealed.empty());
  const SealedSegment& last = sealed.back();
  EXPECT_EQ(last.last_lsn, Lsn(400));
  // Exactly header + records: 20 bytes of record header each.
  uint64_t bytes = kSegmentHeaderSize;
  for (uint64_t lsn = last.first_lsn.value(); lsn <= 400; lsn++) {
    bytes += kRecordHeaderSize + Payload(lsn, 100).size();
  }
  EXPECT_EQ(std::filesystem::file_size(tmp.Sub(last.name)), bytes);
  ASSERT_TRUE(wal->Close().ok());
  auto again = MustOpen(o);
  EXPECT_EQ(400u, ReplayAll(again.get()).size());
}

TEST(WalTest, SyncPoliciesIntervalAndNone) {
  for (SyncPolicy policy : {SyncPolicy::kInterval, SyncPolicy::kNone}) {
    TempDir tmp;
    auto o = Options(tmp.path());
    o.sync_policy = policy;
    o.sync_interval = std::chrono::milliseconds(1);
    {
      auto wal = MustOpen(o);
      for (int i = 0; i < 50; i++) ASSERT_TRUE(wal->Append(Payload(i, 200)));
      ASSERT_TRUE(wal->Close().ok());
      EXPECT_EQ(Lsn(50), wal->stats().durable_lsn);  // Close syncs
    }
    auto wal = MustOpen(o);
    EXPECT_EQ(50u, ReplayAll(wal.get()).size());
  }
}

TEST(WalTest, IntervalPolicySyncsWithoutFurtherAppends) {
  TempDir tmp;
  auto o = Options(tmp.path());
  o.sync_policy = SyncPolicy::kInterval;
  o.sync_interval = std::chrono::milliseconds(2);
  auto wal = MustOpen(o);
  ASSERT_TRUE(wal->Append("a"));
  for (int i = 0; i < 5000 && wal->stats().durable_lsn != Lsn(1); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(Lsn(1), wal->stats().durable_lsn);
}

TEST(WalTest, SecondOpenOfSameDirIsBusy) {
  TempDir tmp;
  auto o = Options(tmp.path());
  auto wal = MustOpen(o);
  auto second = Wal::Open(o, nullptr);
  ASSERT_FALSE(second);
  EXPECT_EQ(Status::Code::kBusy, second.error().code());
}

TEST(WalTest, PreallocatedSegmentsRoundTrip) {
  TempDir tmp;
  auto o = Options(tmp.path());
  o.preallocate_next_segment = true;
  o.segment_bytes = 8192;
  {
    auto wal = MustOpen(o);
    for (uint64_t i = 1; i <= 200; i++) ASSERT_TRUE(wal->Append(Payload(i, 100)));
    EXPECT_GT(wal->SegmentFiles().size(), 2u);
    // The active segment came from the preallocator: zero-filled to full size.
    EXPECT_EQ(8192u, std::filesystem::file_size(tmp.Sub(wal->SegmentFiles().back())));
    ASSERT_TRUE(wal->Close().ok());
  }
  RecoveryReport report;
  auto wal = MustOpen(o, &report);
  EXPECT_FALSE(report.truncated_tail);  // a zero-filled tail is a clean end
  auto records = ReplayAll(wal.get());
  ASSERT_EQ(200u, records.size());
  EXPECT_EQ(Payload(200, 100), records.back().second);
  EXPECT_EQ(Lsn(201), wal->Append("more").value());
}

}  // namespace
}  // namespace stemedb::wal
