#include <boost/json/parse.hpp>
#include <future>
#include <set>
#include <thread>

#include "engine_test_util.h"

namespace stemedb::engine {
namespace {

using namespace stemedb::engine::testing;

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = OpenOrDie(TestOptions(dir_.path())); }
  void TearDown() override {
    if (db_) {
      EXPECT_TRUE(db_->Close().ok());
    }
  }
  TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(DatabaseTest, SubmitThenGet) {
  NewAssertion a = A("a1", "alice", "likes", "bot", R"({"x":1})");
  a.confidence = 0.5;
  a.signature = "c2ln";
  a.is_signed = true;
  CommitInfo c = MustSubmit(db_.get(), Batch("p1", {a}));
  EXPECT_EQ(c.lsn, Lsn(1));
  EXPECT_EQ(c.ids, std::vector<std::string>{"a1"});
  EXPECT_FALSE(c.deduplicated);
  EXPECT_EQ(db_->applied_lsn(), Lsn(1));
  Result<StoredAssertion> got = db_->GetAssertion("p1", "a1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, "a1");
  EXPECT_EQ(got->lsn, Lsn(1));
  EXPECT_FALSE(got->retracted_lsn);
  boost::json::value v = boost::json::parse(got->json);
  EXPECT_EQ(v.at("subject").as_string(), "alice");
  EXPECT_EQ(v.at("value").at("x").as_int64(), 1);
  EXPECT_EQ(v.at("signed").as_bool(), true);
  EXPECT_EQ(v.at("lsn").as_int64(), 1);
  EXPECT_EQ(v.at("project").as_string(), "p1");

  EXPECT_TRUE(db_->GetAssertion("p2", "a1").error().IsNotFound());
  EXPECT_TRUE(db_->GetAssertion("p1", "nope").error().IsNotFound());
}

TEST_F(DatabaseTest, BatchSharesOneLsn) {
  CommitInfo c =
      MustSubmit(db_.get(), Batch("p", {A("b1", "s", "p", "g", "1"), A("b2", "s", "q", "g", "2"),
                                        A("b3", "t", "p", "g", "3")}));
  EXPECT_EQ(c.ids.size(), 3u);
  for (const char* id : {"b1", "b2", "b3"}) {
    Result<StoredAssertion> got = db_->GetAssertion("p", id);
    ASSERT_TRUE(got) << id;
    EXPECT_EQ(got->lsn, c.lsn);
  }
}

// Ids are 128-bit random (api/), so the store does not look up each id
// before writing it; a duplicate inside one batch is still refused whole.
TEST_F(DatabaseTest, BatchWithDuplicateIdWritesNothing) {
  MustSubmit(db_.get(), Batch("p", {A("x1", "s", "p", "g", "1")}));
  Result<CommitInfo> r =
      db_->Submit(Batch("p", {A("d", "s", "p", "g", "1"), A("d", "s", "p", "g", "2")}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Status::Code::kConflict);
  EXPECT_TRUE(db_->GetAssertion("p", "d").error().IsNotFound());
  // The rejected entry consumed its LSN as a no-op.
  EXPECT_EQ(db_->applied_lsn(), Lsn(2));
  EXPECT_EQ(MustSubmit(db_.get(), Batch("p", {A("y", "s", "p", "g", "1")})).lsn, Lsn(3));
}

TEST_F(DatabaseTest, RetractIsVisibleAsOf) {
  const Lsn l1 = MustSubmit(db_.get(), Batch("p", {A("a", "s", "color", "g", "\"red\"")})).lsn;
  const CommitInfo r = MustSubmit(db_.get(), Retract("p", "r1", "a"));
  EXPECT_EQ(r.ids, std::vector<std::string>{"r1"});
  Result<StoredAssertion> got = db_->GetAssertion("p", "a");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->retracted_lsn, r.lsn);
  EXPECT_EQ(got->retraction_id, "r1");

  Result<StoredRetraction> rr = db_->GetRetraction("p", "r1");
  ASSERT_TRUE(rr);
  boost::json::value v = boost::json::parse(rr->json);
  EXPECT_EQ(v.at("retracts").as_string(), "a");
  EXPECT_EQ(v.at("kind").as_string(), "retraction");
  EXPECT_TRUE(db_->GetRetraction("q", "r1").error().IsNotFound());

  QuerySpec q;
  q.project = "p";
  q.subject = "s";
  q.as_of = l1;
  Result<QueryPage> before = db_->Query(q);
  ASSERT_TRUE(before);
  ASSERT_EQ(Ids(*before), std::vector<std::string>{"a"});
  EXPECT_FALSE(before->assertions[0].retracted_lsn);
  q.as_of.reset();
  Result<QueryPage> after = db_->Query(q);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->assertions.empty());
  q.history = true;
  Result<QueryPage> hist = db_->Query(q);
  ASSERT_TRUE(hist);
  ASSERT_EQ(Ids(*hist), std::vector<std::string>{"a"});
  EXPECT_EQ(hist->assertions[0].retracted_lsn, r.lsn);
}

TEST_F(DatabaseTest, RetractErrors) {
  MustSubmit(db_.get(), Batch("p", {A("a", "s", "c", "g", "1")}));
  EXPECT_TRUE(db_->Submit(Retract("p", "r1", "missing")).error().IsNotFound());
  EXPECT_TRUE(db_->Submit(Retract("other", "r2", "a")).error().IsNotFound());
  EXPECT_FALSE(db_->GetAssertion("p", "a")->retracted_lsn);
  MustSubmit(db_.get(), Retract("p", "r3", "a"));
  EXPECT_EQ(db_->Submit(Retract("p", "r4", "a")).error().code(), Status::Code::kConflict);
  EXPECT_EQ(db_->GetAssertion("p", "a")->retraction_id, "r3");
  EXPECT_TRUE(db_->GetRetraction("p", "r1").error().IsNotFound());
  EXPECT_EQ(db_->applied_lsn(), Lsn(5));
}

TEST_F(DatabaseTest, IdempotencySameAndDifferentHash) {
  const IdempotencyToken t{"k1", "hash-a"};
  CommitInfo first = MustSubmit(db_.get(), Batch("p", {A("i1", "s", "c", "g", "1")}, t));
  CommitInfo again = MustSubmit(db_.get(), Batch("p", {A("i2", "s", "c", "g", "1")}, t));
  EXPECT_TRUE(again.deduplicated);
  EXPECT_EQ(again.lsn, first.lsn);
  EXPECT_EQ(again.recorded_at_us, first.recorded_at_us);
  EXPECT_EQ(again.ids, std::vector<std::string>{"i1"});
  EXPECT_TRUE(db_->GetAssertion("p", "i2").error().IsNotFound());

  Result<CommitInfo> other =
      db_->Submit(Batch("p", {A("i3", "s", "c", "g", "1")}, IdempotencyToken{"k1", "hash-b"}));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), Status::Code::kConflict);
  EXPECT_TRUE(db_->GetAssertion("p", "i3").error().IsNotFound());

  // Keys are scoped by project.
  CommitInfo p2 = MustSubmit(db_.get(), Batch("p2", {A("i4", "s", "c", "g", "1")}, t));
  EXPECT_FALSE(p2.deduplicated);

  Result<std::optional<IdempotencyRecord>> rec = db_->GetIdempotency("p", "k1");
  ASSERT_TRUE(rec);
  ASSERT_TRUE(*rec);
  EXPECT_EQ((*rec)->request_hash, "hash-a");
  EXPECT_EQ((*rec)->lsn, first.lsn);
  EXPECT_FALSE(*db_->GetIdempotency("p", "unknown"));

  const IdempotencyToken rt{"k2", "hash-r"};
  CommitInfo r1 = MustSubmit(db_.get(), Retract("p", "ret1", "i1", rt));
  CommitInfo r2 = MustSubmit(db_.get(), Retract("p", "ret2", "i1", rt));
  EXPECT_TRUE(r2.deduplicated);
  EXPECT_EQ(r2.lsn, r1.lsn);
  EXPECT_EQ(r2.ids, std::vector<std::string>{"ret1"});
}

TEST_F(DatabaseTest, SystemTablesPutGetDeleteScan) {
  SystemEntry e;
  e.writes.push_back({SystemTable::kApiKeys, "k1", "v1"});
  e.writes.push_back({SystemTable::kApiKeys, "k2", "v2"});
  e.writes.push_back({SystemTable::kApiKeys, "z9", "v3"});
  e.writes.push_back({SystemTable::kUsage, "k1", "usage"});
  MustSubmit(db_.get(), e);
  EXPECT_EQ(**db_->GetSystem(SystemTable::kApiKeys, "k1"), "v1");
  EXPECT_EQ(**db_->GetSystem(SystemTable::kUsage, "k1"), "usage");
  EXPECT_FALSE(*db_->GetSystem(SystemTable::kAudit, "k1"));

  std::vector<std::pair<std::string, std::string>> seen;
  auto collect = [&](std::string_view k, std::string_view v) {
    seen.emplace_back(k, v);
    return true;
  };
  ASSERT_TRUE(db_->ScanSystem(SystemTable::kApiKeys, "k", collect).ok());
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{{"k1", "v1"}, {"k2", "v2"}}));
  seen.clear();
  ASSERT_TRUE(db_->ScanSystem(SystemTable::kApiKeys, "",
                              [&](std::string_view k, std::string_view v) {
                                seen.emplace_back(k, v);
                                return seen.size() < 2;
                              })
                  .ok());
  EXPECT_EQ(seen.size(), 2u);

  SystemEntry del;
  del.writes.push_back({SystemTable::kApiKeys, "k1", std::nullopt});
  MustSubmit(db_.get(), del);
  EXPECT_FALSE(*db_->GetSystem(SystemTable::kApiKeys, "k1"));
  EXPECT_EQ(**db_->GetSystem(SystemTable::kApiKeys, "k2"), "v2");
}

TEST_F(DatabaseTest, LsnAtTime) {
  EXPECT_EQ(*db_->LsnAtTime(INT64_MAX), Lsn(0));
  std::vector<CommitInfo> commits;
  for (int i = 0; i < 5; ++i) {
    commits.push_back(
        MustSubmit(db_.get(), Batch("p", {A("t" + std::to_string(i), "s", "c", "g", "1")})));
  }
  for (size_t i = 1; i < commits.size(); ++i) {
    EXPECT_GE(commits[i].recorded_at_us, commits[i - 1].recorded_at_us);
  }
  EXPECT_EQ(*db_->LsnAtTime(commits.front().recorded_at_us - 1), Lsn(0));
  EXPECT_EQ(*db_->LsnAtTime(INT64_MAX), commits.back().lsn);
  for (const CommitInfo& c : commits) {
    Result<Lsn> at = db_->LsnAtTime(c.recorded_at_us);
    ASSERT_TRUE(at);
    // The highest LSN recorded at or before that microsecond.
    EXPECT_GE(*at, c.lsn);
    Result<StoredAssertion> a = db_->GetAssertion("p", "t" + std::to_string(at->value() - 1));
    ASSERT_TRUE(a);
  }
}

TEST_F(DatabaseTest, ConcurrentSubmitsGetDistinctLsns) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::vector<Lsn>> lsns(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "c" + std::to_string(t) + "_" + std::to_string(i);
        Result<CommitInfo> r =
            db_->Submit(Batch("p", {A(id, "s" + std::to_string(t), "c", "g", std::to_string(i))}));
        if (r) lsns[t].push_back(r->lsn);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (auto& v : lsns) {
    EXPECT_EQ(v.size(), static_cast<size_t>(kPerThread));
    for (Lsn l : v) all.insert(l.value());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(db_->applied_lsn(), Lsn(kThreads * kPerThread));
  EXPECT_TRUE(db_->GetAssertion("p", "c7_49"));
}

// Entries submitted without waiting are applied in groups (one RocksDB write
// per group). Each must still see every earlier LSN: a retraction of an
// assertion in the same group, a second retraction of it, a token reused in
// the same group. Replay (which groups too) must reach the same state.
TEST(GroupedApplyTest, BackToBackEntriesSeeEachOtherLiveAndOnReplay) {
  TempDir dir;
  const DatabaseOptions options = TestOptions(dir.path());
  std::unique_ptr<Database> db = OpenOrDie(options);
  constexpr int kRounds = 200;
  struct Expected {
    Status::Code code;
    int same_lsn_as = -1;  // index of the entry whose LSN a dedup repeats
  };
  std::vector<LogEntry> entries;
  std::vector<Expected> expected;
  for (int i = 0; i < kRounds; ++i) {
    const std::string n = std::to_string(i);
    const IdempotencyToken t{"k" + n, "h" + n};
    const int base = static_cast<int>(entries.size());
    entries.push_back(Batch("p", {A("a" + n, "s" + n, "c", "g", n)}));
    expected.push_back({Status::Code::kOk});
    entries.push_back(Retract("p", "r" + n, "a" + n));
    expected.push_back({Status::Code::kOk});
    entries.push_back(Retract("p", "rr" + n, "a" + n));
    expected.push_back({Status::Code::kConflict});
    entries.push_back(Batch("p", {A("b" + n, "s" + n, "c", "g", n)}, t));
    expected.push_back({Status::Code::kOk});
    entries.push_back(Batch("p", {A("c" + n, "s" + n, "c", "g", n)}, t));
    expected.push_back({Status::Code::kOk, base + 3});
    entries.push_back(Batch("p", {A("d" + n, "s" + n, "c", "g", n)}, IdempotencyToken{t.key, "x"}));
    expected.push_back({Status::Code::kConflict});
    entries.push_back(Retract("p", "m" + n, "missing" + n));
    expected.push_back({Status::Code::kNotFound});
    entries.push_back(Retract("p", "r" + n, "b" + n));  // retraction id already used
    expected.push_back({Status::Code::kConflict});
    // A retraction's token, reused by the next (assertion) entry: a replay
    // of the retraction, not a new write.
    const IdempotencyToken rt{"rk" + n, "rh" + n};
    entries.push_back(Retract("p", "t" + n, "b" + n, rt));
    expected.push_back({Status::Code::kOk});
    entries.push_back(
        Batch("p", {A("f" + n, "s" + n, "c", "g", n)}, IdempotencyToken{rt.key, "y"}));
    expected.push_back({Status::Code::kConflict});
    for (int j = 0; j < 4; ++j) {  // plain writes: these share groups
      entries.push_back(Batch("q", {A("e" + n + "_" + std::to_string(j), "s", "c", "g", n)}));
      expected.push_back({Status::Code::kOk});
    }
  }
  std::vector<std::promise<Result<CommitInfo>>> replies(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    db->SubmitAsync(std::move(entries[i]),
                    [&replies, i](Result<CommitInfo> r) { replies[i].set_value(std::move(r)); });
  }
  std::vector<Lsn> lsns;
  for (size_t i = 0; i < replies.size(); ++i) {
    Result<CommitInfo> r = replies[i].get_future().get();
    SCOPED_TRACE("entry " + std::to_string(i));
    if (expected[i].code != Status::Code::kOk) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code(), expected[i].code) << r.error().ToString();
      lsns.push_back(Lsn());
      continue;
    }
    ASSERT_TRUE(r) << r.error().ToString();
    lsns.push_back(r->lsn);
    if (expected[i].same_lsn_as >= 0) {
      EXPECT_TRUE(r->deduplicated);
      EXPECT_EQ(r->lsn, lsns[static_cast<size_t>(expected[i].same_lsn_as)]);
    } else {
      EXPECT_EQ(r->lsn, Lsn(i + 1));
    }
  }
  const DatabaseStats st = db->stats();
  EXPECT_EQ(st.applied_lsn, Lsn(entries.size()));
  // The point of the test: entries really were applied in shared writes.
  // Each round forces 8 commits (before every retraction and reused token)
  // for 14 entries, so full grouping gives 8/14 of the entries (measured:
  // 1601 writes for 2800 entries); one write per entry would be 2800.
  EXPECT_LT(st.apply_writes, entries.size() * 3 / 4);

  auto check = [&](Database* d) {
    for (int i = 0; i < kRounds; ++i) {
      const std::string n = std::to_string(i);
      SCOPED_TRACE("round " + n);
      Result<StoredAssertion> a = d->GetAssertion("p", "a" + n);
      ASSERT_TRUE(a);
      EXPECT_EQ(a->retraction_id, "r" + n);
      EXPECT_TRUE(d->GetRetraction("p", "r" + n));
      EXPECT_TRUE(d->GetRetraction("p", "rr" + n).error().IsNotFound());
      Result<StoredAssertion> b = d->GetAssertion("p", "b" + n);
      ASSERT_TRUE(b);
      EXPECT_EQ(b->retraction_id, "t" + n);
      EXPECT_TRUE(d->GetAssertion("p", "f" + n).error().IsNotFound());
      EXPECT_TRUE(d->GetAssertion("p", "c" + n).error().IsNotFound());
      EXPECT_TRUE(d->GetAssertion("p", "d" + n).error().IsNotFound());
    }
    EXPECT_EQ(d->applied_lsn(), Lsn(entries.size()));
  };
  check(db.get());
  Crash(std::move(db));
  std::unique_ptr<Database> reopened = OpenOrDie(options);
  check(reopened.get());
  EXPECT_TRUE(reopened->Close().ok());
}

// A store whose idle log commits and applies inline, however slow the disk.
DatabaseOptions InlineCommitOptions(const std::string& root) {
  DatabaseOptions options = TestOptions(root);
  options.wal.inline_commit = true;
  options.wal.inline_commit_max_sync = std::chrono::hours(1);  // not the slow-disk gate
  return options;
}

// WalOptions::inline_commit: a lone writer's entry is written, synced and
// applied on the submitting thread, and its callback runs before SubmitAsync
// returns; the result is visible at once, like any acknowledged write.
TEST(InlineCommitTest, LoneWriterIsAppliedOnItsOwnThread) {
  TempDir dir;
  const DatabaseOptions options = InlineCommitOptions(dir.path());
  std::unique_ptr<Database> db = OpenOrDie(options);
  for (int i = 1; i <= 5; ++i) {
    const std::string id = "lone" + std::to_string(i);
    bool called = false;
    std::thread::id ran_on;
    db->SubmitAsync(Batch("p", {A(id, "s", "c", "g", "1")}), [&](Result<CommitInfo> r) {
      ASSERT_TRUE(r) << r.error().ToString();
      EXPECT_EQ(r->lsn, Lsn(static_cast<uint64_t>(i)));
      called = true;
      ran_on = std::this_thread::get_id();
    });
    ASSERT_TRUE(called) << "entry " << i << " was not committed and applied inline";
    EXPECT_EQ(ran_on, std::this_thread::get_id());
    EXPECT_TRUE(db->GetAssertion("p", id));
    EXPECT_EQ(db->applied_lsn(), Lsn(static_cast<uint64_t>(i)));
  }
  EXPECT_EQ(db->stats().wal.inline_groups, 5u);
  EXPECT_TRUE(db->Close().ok());
}

// Inline and queued applies interleave (several submitters, some pausing so
// the log goes idle): every entry is still decided against all earlier LSNs
// (each thread retracts its own assertions right after writing them), and a
// crash + replay reaches the same state.
TEST(InlineCommitTest, InlineAndQueuedAppliesKeepLsnOrderLiveAndOnReplay) {
  TempDir dir;
  const DatabaseOptions options = InlineCommitOptions(dir.path());
  std::unique_ptr<Database> db = OpenOrDie(options);
  constexpr int kThreads = 4, kRounds = 60;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string n = std::to_string(t) + "_" + std::to_string(i);
        if (t % 2 == 0 && i % 5 == 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
        MustSubmit(db.get(), Batch("p", {A("a" + n, "s" + n, "c", "g", "1")}));
        MustSubmit(db.get(), Retract("p", "r" + n, "a" + n));
        Result<CommitInfo> again = db->Submit(Retract("p", "rr" + n, "a" + n));
        ASSERT_FALSE(again);
        EXPECT_EQ(again.error().code(), Status::Code::kConflict);
      }
    });
  }
  for (auto& th : threads) th.join();
  const DatabaseStats st = db->stats();
  EXPECT_EQ(st.applied_lsn, Lsn(kThreads * kRounds * 3));
  EXPECT_GT(st.wal.inline_groups, 0u);
  EXPECT_LT(st.wal.inline_groups, st.wal.groups);  // the writer thread grouped some
  auto check = [&](Database* d) {
    for (int t = 0; t < kThreads; ++t) {
      for (int i = 0; i < kRounds; ++i) {
        const std::string n = std::to_string(t) + "_" + std::to_string(i);
        Result<StoredAssertion> a = d->GetAssertion("p", "a" + n);
        ASSERT_TRUE(a) << n;
        EXPECT_EQ(a->retraction_id, "r" + n);
        EXPECT_TRUE(d->GetRetraction("p", "rr" + n).error().IsNotFound()) << n;
      }
    }
    EXPECT_EQ(d->applied_lsn(), Lsn(kThreads * kRounds * 3));
  };
  check(db.get());
  Crash(std::move(db));
  std::unique_ptr<Database> reopened = OpenOrDie(options);
  check(reopened.get());
  EXPECT_TRUE(reopened->Close().ok());
}

TEST_F(DatabaseTest, FlushStatsAndClose) {
  for (int i = 0; i < 20; ++i) {
    MustSubmit(db_.get(), Batch("p", {A("f" + std::to_string(i), "s", "c", "g", "1")}));
  }
  Result<Lsn> flushed = db_->FlushAndPurge();
  ASSERT_TRUE(flushed);
  EXPECT_EQ(*flushed, Lsn(20));
  DatabaseStats st = db_->stats();
  EXPECT_EQ(st.applied_lsn, Lsn(20));
  EXPECT_EQ(st.flushed_lsn, Lsn(20));
  EXPECT_GT(st.live_sst_bytes, 0u);
  EXPECT_EQ(st.wal.last_lsn, Lsn(20));
  EXPECT_TRUE(db_->writable());
  EXPECT_TRUE(db_->Close().ok());
  EXPECT_FALSE(db_->writable());
  Result<CommitInfo> r = db_->Submit(Batch("p", {A("late", "s", "c", "g", "1")}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Status::Code::kUnavailable);
  db_.reset();
}

}  // namespace
}  // namespace stemedb::engine
