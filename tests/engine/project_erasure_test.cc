// Project deletion (WAL kind 4) and erasure (kind 5) against a real store:
// what disappears, what stays, and that a crash at any point neither shows a
// half-deleted project nor brings any of it back.
#include <chrono>
#include <thread>

#include "engine/log_entry.h"
#include "engine/project_record.h"
#include "engine_test_util.h"

namespace stemedb::engine {
namespace {

using namespace stemedb::engine::testing;

// Waits (bounded) until the purge thread has finished deleting `project`.
// Not a timing assertion: the bound only stops a hung test.
bool WaitAbsent(Database* db, const std::string& project) {
  for (int i = 0; i < 6000; ++i) {
    Result<Database::ProjectState> st = db->GetProjectState(project);
    if (st && *st == Database::ProjectState::kAbsent) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

QuerySpec Subject(std::string project, std::string subject, bool history = true) {
  QuerySpec q;
  q.project = std::move(project);
  q.subject = std::move(subject);
  q.history = history;
  q.limit = 1000;
  return q;
}

// `n` assertions of project `p` about subjects s0..s9, in batches of 500.
void Fill(Database* db, const std::string& p, int n) {
  for (int base = 0; base < n; base += 500) {
    std::vector<NewAssertion> as;
    for (int i = base; i < std::min(n, base + 500); ++i) {
      as.push_back(A(p + "-" + std::to_string(i), "s" + std::to_string(i % 10), "pred",
                     "agent" + std::to_string(i % 3), std::to_string(i)));
    }
    MustSubmit(db, Batch(p, std::move(as)));
  }
}

LogEntry Mark(std::string p) { return DeleteProjectEntry{std::move(p)}; }

TEST(ProjectErasureCodecTest, DeleteAndEraseRoundTrip) {
  WalEntry d{7, DeleteProjectEntry{"proj", DeleteProjectEntry::Step::kPurge, 512}};
  Result<WalEntry> back = DecodeWalEntry(EncodeWalEntry(d));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  const auto& de = std::get<DeleteProjectEntry>(back->entry);
  EXPECT_EQ(de.project, "proj");
  EXPECT_EQ(de.step, DeleteProjectEntry::Step::kPurge);
  EXPECT_EQ(de.max_assertions, 512u);

  WalEntry x{9, EraseEntry{"proj", EraseEntry::Reason::kExpiry, {"a", "bb"}}};
  std::string bytes = EncodeWalEntry(x);
  back = DecodeWalEntry(bytes);
  ASSERT_TRUE(back.has_value());
  const auto& xe = std::get<EraseEntry>(back->entry);
  EXPECT_EQ(xe.reason, EraseEntry::Reason::kExpiry);
  EXPECT_EQ(xe.ids, (std::vector<std::string>{"a", "bb"}));
  // Strict: a truncated body or an unknown reason is Corruption.
  EXPECT_FALSE(DecodeWalEntry(bytes.substr(0, bytes.size() - 1)).has_value());
  bytes[10 + 1 + 4] = 7;  // header(10) + len(1) + "proj": the reason byte
  EXPECT_FALSE(DecodeWalEntry(bytes).has_value());
}

TEST(ProjectErasureTest, DeleteRemovesEveryRecordOfTheProjectOnly) {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  Fill(db.get(), "p", 1300);
  Fill(db.get(), "q", 20);
  MustSubmit(db.get(),
             Batch("p", {A("pi", "s0", "pred", "agent0", "1")}, IdempotencyToken{"idem", "h"}));
  MustSubmit(db.get(), Retract("p", "pr", "p-1"));
  MustSubmit(db.get(), Retract("q", "qr", "q-1"));
  MustSubmit(db.get(), SystemEntry{{{SystemTable::kAgentKeys, std::string("p\0agent0", 8), "k"},
                                    {SystemTable::kAgentKeys, std::string("q\0agent0", 8), "k"},
                                    {SystemTable::kProjects, "p", EncodeProjectRecord({})}}});
  const size_t q_before = AllIds(db.get(), Subject("q", "s1")).size();
  ASSERT_GT(q_before, 0u);
  EXPECT_EQ(*db->GetProjectState("p"), Database::ProjectState::kPresent);

  CommitInfo mark = MustSubmit(db.get(), Mark("p"));
  // Hidden at once, before the purge thread got anywhere.
  EXPECT_TRUE(AllIds(db.get(), Subject("p", "s0")).empty());
  EXPECT_FALSE(db->GetAssertion("p", "p-0").has_value());
  EXPECT_FALSE(db->GetRetraction("p", "pr").has_value());
  Result<CommitInfo> refused = db->Submit(Batch("p", {A("late", "s0", "pred", "a", "1")}));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), Status::Code::kConflict);
  // Repeating the mark changes nothing.
  MustSubmit(db.get(), Mark("p"));

  ASSERT_TRUE(WaitAbsent(db.get(), "p"));
  EXPECT_GT(db->applied_lsn(), mark.lsn);
  for (const char* id : {"p-0", "p-1299", "pi", "late"}) {
    EXPECT_FALSE(db->GetAssertion("p", id).has_value()) << id;
  }
  EXPECT_FALSE(db->GetRetraction("p", "pr").has_value());
  EXPECT_FALSE(*db->GetIdempotency("p", "idem"));
  EXPECT_FALSE(*db->GetSystem(SystemTable::kAgentKeys, std::string("p\0agent0", 8)));
  EXPECT_FALSE(db->GetProjectFigures("p").has_value());
  EXPECT_FALSE(*db->GetSystem(SystemTable::kProjects, "p"));
  // The other project is untouched.
  EXPECT_EQ(AllIds(db.get(), Subject("q", "s1")).size(), q_before);
  EXPECT_TRUE(db->GetRetraction("q", "qr").has_value());
  EXPECT_TRUE(*db->GetSystem(SystemTable::kAgentKeys, std::string("q\0agent0", 8)));
  // The name is free again: a new project of that name starts empty.
  MustSubmit(db.get(), Batch("p", {A("new", "s0", "pred", "a", "1")}));
  EXPECT_EQ(AllIds(db.get(), Subject("p", "s0")), std::vector<std::string>{"new"});
  EXPECT_TRUE(db->Close().ok());
}

TEST(ProjectErasureTest, CrashMidDeleteFinishesAfterRestartAndNothingReappears) {
  TempDir dir;
  const DatabaseOptions o = TestOptions(dir.path());
  auto db = OpenOrDie(o);
  Fill(db.get(), "p", 5000);
  Fill(db.get(), "q", 50);
  ASSERT_TRUE(db->FlushAndPurge().has_value());  // p's data in SSTs, the deletion only in the WAL
  MustSubmit(db.get(), Mark("p"));
  // A write refused live must be refused on replay too.
  ASSERT_FALSE(db->Submit(Batch("p", {A("late", "s0", "pred", "a", "1")})).has_value());
  Crash(std::move(db));

  db = OpenOrDie(o);
  // Hidden from the first read after the restart.
  EXPECT_TRUE(AllIds(db.get(), Subject("p", "s3")).empty());
  ASSERT_TRUE(WaitAbsent(db.get(), "p"));
  Crash(std::move(db));  // and again, after the deletion finished

  db = OpenOrDie(o);
  EXPECT_EQ(*db->GetProjectState("p"), Database::ProjectState::kAbsent);
  EXPECT_FALSE(db->GetAssertion("p", "p-0").has_value());
  EXPECT_FALSE(db->GetAssertion("p", "late").has_value());
  EXPECT_EQ(AllIds(db.get(), Subject("q", "s1")).size(), 5u);
  EXPECT_TRUE(db->Close().ok());
}

TEST(ProjectErasureTest, EraseRemovesEveryVersionFromHistoryAndAsOfReads) {
  TempDir dir;
  const DatabaseOptions o = TestOptions(dir.path());
  auto db = OpenOrDie(o);
  CommitInfo first = MustSubmit(db.get(), Batch("p", {A("a1", "s", "color", "g", "\"red\"")}));
  MustSubmit(db.get(), Batch("p", {A("a2", "s", "color", "g", "\"blue\""),
                                   A("b1", "t", "color", "g", "\"green\"")}));
  MustSubmit(db.get(), Retract("p", "r1", "a1"));
  MustSubmit(db.get(), Batch("q", {A("q1", "s", "color", "g", "\"red\"")}));
  const ProjectFigures before = *db->GetProjectFigures("p");

  QuerySpec as_of_first = Subject("p", "s");
  as_of_first.as_of = first.lsn;
  ASSERT_EQ(AllIds(db.get(), as_of_first), std::vector<std::string>{"a1"});

  CommitInfo erased = MustSubmit(
      db.get(), EraseEntry{"p", EraseEntry::Reason::kErasure, {"a1", "a2", "a1", "q1", "missing"}});
  EXPECT_EQ(erased.removed, 3u);  // a1, its retraction r1, a2; q1 is another project's
  auto check = [&](Database* d) {
    EXPECT_TRUE(AllIds(d, as_of_first).empty());
    EXPECT_TRUE(AllIds(d, Subject("p", "s")).empty());
    EXPECT_FALSE(d->GetAssertion("p", "a1").has_value());
    EXPECT_FALSE(d->GetRetraction("p", "r1").has_value());
    EXPECT_EQ(AllIds(d, Subject("p", "t")), std::vector<std::string>{"b1"});
    EXPECT_EQ(AllIds(d, Subject("q", "s")), std::vector<std::string>{"q1"});
    QuerySpec by_agent;
    by_agent.project = "p";
    by_agent.agent_id = "g";
    by_agent.history = true;
    EXPECT_EQ(AllIds(d, by_agent), std::vector<std::string>{"b1"});
    const ProjectFigures after = *d->GetProjectFigures("p");
    EXPECT_EQ(after.assertions, before.assertions - 2);
    EXPECT_LT(after.stored_bytes, before.stored_bytes);
  };
  check(db.get());
  // Erasing again removes nothing and is no error.
  EXPECT_EQ(MustSubmit(db.get(), EraseEntry{"p", EraseEntry::Reason::kErasure, {"a1"}}).removed,
            0u);
  Crash(std::move(db));
  db = OpenOrDie(o);
  check(db.get());
  EXPECT_TRUE(db->Close().ok());
}

}  // namespace
}  // namespace stemedb::engine
