#include <map>
#include <random>
#include <set>

#include "engine_test_util.h"

namespace stemedb::engine {
namespace {

using namespace stemedb::engine::testing;

// What the test wrote, to compute the expected answer of any query.
struct Fact {
  std::string id, subject, predicate, agent, value;
  Lsn lsn;
  uint32_t ordinal = 0;
  Lsn retracted;  // 0 = never
};

class QueryTest : public ::testing::Test {
 protected:
  // Durability is not what these tests check: skip fdatasync to stay fast.
  void SetUp() override {
    DatabaseOptions o = TestOptions(dir_.path());
    o.wal.sync_policy = wal::SyncPolicy::kNone;
    db_ = OpenOrDie(o);
  }
  void TearDown() override {
    if (db_) {
      EXPECT_TRUE(db_->Close().ok());
    }
  }

  // Random facts over a small domain so groups have several versions.
  void Populate(int batches, uint32_t seed) {
    std::mt19937 rng(seed);
    const char* subjects[] = {"s1", "s2", "s3"};
    const char* preds[] = {"p1", "p2"};
    const char* agents[] = {"a1", "a2", "a3"};
    for (int b = 0; b < batches; ++b) {
      if (!facts_.empty() && rng() % 4 == 0) {
        Fact& f = facts_[rng() % facts_.size()];
        if (f.retracted.value() == 0) {
          CommitInfo c = MustSubmit(db_.get(), Retract("p", "r" + std::to_string(b), f.id));
          f.retracted = c.lsn;
          continue;
        }
      }
      std::vector<NewAssertion> as;
      const int n = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < n; ++i) {
        Fact f;
        f.id = "b" + std::to_string(b) + "i" + std::to_string(i);
        f.subject = subjects[rng() % 3];
        f.predicate = preds[rng() % 2];
        f.agent = agents[rng() % 3];
        f.value = std::to_string(rng() % 3);
        f.ordinal = static_cast<uint32_t>(i);
        as.push_back(A(f.id, f.subject, f.predicate, f.agent, f.value));
        pending_.push_back(f);
      }
      // Noise in another project must never show up.
      MustSubmit(db_.get(), Batch("other", {A("o" + std::to_string(b), "s1", "p1", "a1", "9")}));
      CommitInfo c = MustSubmit(db_.get(), Batch("p", as));
      for (Fact& f : pending_) {
        f.lsn = c.lsn;
        facts_.push_back(f);
      }
      pending_.clear();
    }
  }

  static bool Match(const Fact& f, const QuerySpec& q) {
    return (!q.subject || *q.subject == f.subject) &&
           (!q.predicate || *q.predicate == f.predicate) && (!q.agent_id || *q.agent_id == f.agent);
  }

  // Expected ids, as a set: the engine's order is index order, which the
  // oracle does not try to reproduce.
  std::multiset<std::string> Expected(const QuerySpec& q, Lsn as_of) const {
    std::multiset<std::string> out;
    std::map<std::tuple<std::string, std::string, std::string>, const Fact*> newest;
    for (const Fact& f : facts_) {
      if (!Match(f, q) || f.lsn > as_of) continue;
      const bool retracted = f.retracted.value() != 0 && f.retracted <= as_of;
      if (q.history) {
        out.insert(f.id);
        continue;
      }
      if (retracted) continue;
      auto& slot = newest[{f.subject, f.predicate, f.agent}];
      if (slot == nullptr || std::tie(slot->lsn, slot->ordinal) < std::tie(f.lsn, f.ordinal)) {
        slot = &f;
      }
    }
    for (auto& [k, f] : newest) out.insert(f->id);
    return out;
  }

  static std::vector<QuerySpec> AllFilterCombinations() {
    std::vector<QuerySpec> specs;
    for (int mask = 1; mask < 8; ++mask) {
      for (bool history : {false, true}) {
        QuerySpec q;
        q.project = "p";
        if (mask & 1) q.subject = "s1";
        if (mask & 2) q.predicate = "p2";
        if (mask & 4) q.agent_id = "a3";
        q.history = history;
        q.limit = 1000;
        specs.push_back(q);
      }
    }
    return specs;
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::vector<Fact> facts_;
  std::vector<Fact> pending_;
};

std::string Describe(const QuerySpec& q) {
  return "subject=" + q.subject.value_or("-") + " predicate=" + q.predicate.value_or("-") +
         " agent=" + q.agent_id.value_or("-") + (q.history ? " history" : " current");
}

TEST_F(QueryTest, EveryFilterCombinationMatchesOracle) {
  Populate(120, 7);
  const Lsn now = db_->applied_lsn();
  for (Lsn as_of : {Lsn(now.value() / 3), Lsn(now.value() / 2), now}) {
    for (QuerySpec q : AllFilterCombinations()) {
      q.as_of = as_of;
      Result<QueryPage> page = db_->Query(q);
      ASSERT_TRUE(page) << page.error().ToString();
      EXPECT_TRUE(page->next_cursor.empty());
      EXPECT_EQ(page->as_of, as_of);
      const std::vector<std::string> ids = Ids(*page);
      EXPECT_EQ(std::multiset<std::string>(ids.begin(), ids.end()), Expected(q, as_of))
          << Describe(q) << " as_of " << as_of.value();
    }
  }
}

TEST_F(QueryTest, PaginationEqualsOneBigPage) {
  Populate(100, 11);
  for (QuerySpec q : AllFilterCombinations()) {
    const Result<QueryPage> whole = db_->Query(q);
    ASSERT_TRUE(whole);
    for (size_t limit : {1u, 2u, 7u}) {
      q.limit = limit;
      EXPECT_EQ(AllIds(db_.get(), q), Ids(*whole)) << Describe(q) << " limit " << limit;
    }
    q.limit = 1000;
  }
}

TEST_F(QueryTest, PaginationUnderConcurrentWritesNeitherSkipsNorRepeats) {
  Populate(60, 3);
  for (QuerySpec q : AllFilterCombinations()) {
    const Lsn pinned = db_->applied_lsn();
    q.as_of = pinned;
    const std::vector<std::string> expected = Ids(*db_->Query(q));
    q.as_of.reset();
    q.limit = 2;
    std::vector<std::string> got;
    int round = 0;
    while (true) {
      Result<QueryPage> page = db_->Query(q);
      ASSERT_TRUE(page) << page.error().ToString();
      EXPECT_EQ(page->as_of, pinned);
      for (auto& id : Ids(*page)) got.push_back(id);
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
      // Writes between pages: new versions of existing groups, new groups,
      // and retractions of what was (or will be) returned.
      const std::string tag = "w" + std::to_string(round++) + Describe(q);
      MustSubmit(db_.get(), Batch("p", {A(tag + "x", "s1", "p2", "a3", "\"new\""),
                                        A(tag + "y", "s0", "p0", "a0", "1"),
                                        A(tag + "z", "s9", "p2", "a3", "1")}));
      const Fact& victim = facts_[round % facts_.size()];
      if (victim.retracted.value() == 0) {
        Result<CommitInfo> r = db_->Submit(Retract("p", tag + "r", victim.id));
        if (r) facts_[round % facts_.size()].retracted = r->lsn;
      }
    }
    EXPECT_EQ(got, expected) << Describe(q);
    q.cursor.clear();
  }
}

TEST_F(QueryTest, CurrentViewPicksNewestNonRetracted) {
  MustSubmit(db_.get(), Batch("p", {A("v1", "s", "c", "g", "1")}));
  MustSubmit(db_.get(), Batch("p", {A("v2", "s", "c", "g", "2")}));
  MustSubmit(db_.get(), Batch("p", {A("v3", "s", "c", "g", "3"), A("v4", "s", "c", "g", "4")}));
  QuerySpec q;
  q.project = "p";
  q.subject = "s";
  EXPECT_EQ(Ids(*db_->Query(q)), std::vector<std::string>{"v4"});
  MustSubmit(db_.get(), Retract("p", "r4", "v4"));
  EXPECT_EQ(Ids(*db_->Query(q)), std::vector<std::string>{"v3"});
  MustSubmit(db_.get(), Retract("p", "r3", "v3"));
  MustSubmit(db_.get(), Retract("p", "r2", "v2"));
  EXPECT_EQ(Ids(*db_->Query(q)), std::vector<std::string>{"v1"});
  q.as_of = Lsn(2);
  EXPECT_EQ(Ids(*db_->Query(q)), std::vector<std::string>{"v2"});
  q.history = true;
  q.as_of.reset();
  EXPECT_EQ(Ids(*db_->Query(q)), (std::vector<std::string>{"v1", "v2", "v3", "v4"}));
}

TEST_F(QueryTest, RejectsBadSpecsAndForeignCursors) {
  Populate(20, 5);
  QuerySpec q;
  q.project = "p";
  EXPECT_EQ(db_->Query(q).error().code(), Status::Code::kInvalidArgument);
  q.subject = "s1";
  q.limit = 0;
  EXPECT_EQ(db_->Query(q).error().code(), Status::Code::kInvalidArgument);
  q.limit = 1001;
  EXPECT_EQ(db_->Query(q).error().code(), Status::Code::kInvalidArgument);
  q.limit = 1;
  q.history = true;
  Result<QueryPage> page = db_->Query(q);
  ASSERT_TRUE(page);
  ASSERT_FALSE(page->next_cursor.empty());
  QuerySpec other = q;
  other.cursor = page->next_cursor;
  other.subject = "s2";
  EXPECT_EQ(db_->Query(other).error().code(), Status::Code::kInvalidArgument);
  other = q;
  other.cursor = page->next_cursor;
  other.history = false;
  EXPECT_EQ(db_->Query(other).error().code(), Status::Code::kInvalidArgument);
  other = q;
  other.project = "other";
  other.cursor = page->next_cursor;
  EXPECT_EQ(db_->Query(other).error().code(), Status::Code::kInvalidArgument);
  other.cursor = "garbage!";
  EXPECT_EQ(db_->Query(other).error().code(), Status::Code::kInvalidArgument);
}

TEST_F(QueryTest, AsOfBeyondAppliedIsClampedToApplied) {
  Populate(10, 1);
  QuerySpec q;
  q.project = "p";
  q.subject = "s1";
  q.as_of = Lsn(1'000'000);
  Result<QueryPage> page = db_->Query(q);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->as_of, db_->applied_lsn());
}

TEST_F(QueryTest, BeliefsWithAndWithoutConflict) {
  MustSubmit(db_.get(), Batch("p", {A("1", "bob", "color", "a2", "\"red\""),
                                    A("2", "bob", "color", "a1", "\"red\""),
                                    A("3", "bob", "size", "a1", "10")}));
  Result<std::vector<PredicateBeliefs>> b = db_->Beliefs("p", "bob", std::nullopt, std::nullopt);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 2u);
  EXPECT_EQ((*b)[0].predicate, "color");
  EXPECT_FALSE((*b)[0].conflict);
  ASSERT_EQ((*b)[0].values.size(), 1u);
  EXPECT_EQ((*b)[0].values[0].value_json, "\"red\"");
  EXPECT_EQ((*b)[0].values[0].agents, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ((*b)[1].predicate, "size");

  const Lsn before_conflict = db_->applied_lsn();
  MustSubmit(db_.get(), Batch("p", {A("4", "bob", "color", "a3", "\"blue\"")}));
  b = db_->Beliefs("p", "bob", std::string_view("color"), std::nullopt);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_TRUE((*b)[0].conflict);
  ASSERT_EQ((*b)[0].values.size(), 2u);
  EXPECT_EQ((*b)[0].values[0].value_json, "\"blue\"");
  EXPECT_EQ((*b)[0].values[0].agents, std::vector<std::string>{"a3"});

  // An agent changing its mind replaces its belief.
  MustSubmit(db_.get(), Batch("p", {A("5", "bob", "color", "a2", "\"blue\"")}));
  b = db_->Beliefs("p", "bob", std::string_view("color"), std::nullopt);
  EXPECT_EQ((*b)[0].values[0].agents, (std::vector<std::string>{"a2", "a3"}));
  EXPECT_EQ((*b)[0].values[1].agents, (std::vector<std::string>{"a1"}));

  // Retractions resolve the conflict; as-of reads still see it.
  MustSubmit(db_.get(), Retract("p", "r4", "4"));
  MustSubmit(db_.get(), Retract("p", "r5", "5"));
  b = db_->Beliefs("p", "bob", std::string_view("color"), std::nullopt);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_FALSE((*b)[0].conflict);
  EXPECT_EQ((*b)[0].values[0].agents, (std::vector<std::string>{"a1", "a2"}));
  b = db_->Beliefs("p", "bob", std::string_view("color"), before_conflict);
  EXPECT_FALSE((*b)[0].conflict);
  b = db_->Beliefs("p", "bob", std::string_view("color"), Lsn(before_conflict.value() + 1));
  EXPECT_TRUE((*b)[0].conflict);
  EXPECT_TRUE(db_->Beliefs("other", "bob", std::nullopt, std::nullopt)->empty());
  EXPECT_TRUE(db_->Beliefs("p", "nobody", std::nullopt, std::nullopt)->empty());
}

}  // namespace
}  // namespace stemedb::engine
