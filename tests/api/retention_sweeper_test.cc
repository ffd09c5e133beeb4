// Retention (api/retention_sweeper.h) over a real store: a sweep erases what
// is older than each project's retain_days, through the WAL, and keeps what a
// legal hold covers; projects without retention are never touched. The
// sweeper's clock is run two days ahead instead of waiting for days.
#include "api/retention_sweeper.h"

#include <gtest/gtest.h>

#include "api/legal_holds.h"
#include "api/router.h"
#include "auth/audit_log.h"
#include "engine/project_record.h"
#include "tests/auth/temp_database.h"
#include "util/time_format.h"

namespace stemedb::api {
namespace {

using auth::testing::TempDatabase;

constexpr int64_t kDay = 86400LL * 1000 * 1000;

void Register(engine::Database* db, const std::string& project, uint64_t retain_days) {
  engine::ProjectRecord r;
  r.retain_days = retain_days;
  ASSERT_TRUE(db->Submit(engine::SystemEntry{
                             {{engine::SystemTable::kProjects, project, EncodeProjectRecord(r)}}})
                  .has_value());
}

// Three assertions about each of `subjects`, with server-style ids.
void Write(engine::Database* db, const std::string& project,
           const std::vector<std::string>& subjects) {
  std::vector<engine::NewAssertion> list;
  for (const std::string& s : subjects) {
    for (int i = 0; i < 3; ++i) {
      engine::NewAssertion a;
      a.id = NewId();
      a.subject = s;
      a.predicate = "p";
      a.agent_id = "agent";
      a.value_json = std::to_string(i);
      list.push_back(std::move(a));
    }
  }
  ASSERT_TRUE(
      db->Submit(engine::AssertBatchEntry{project, std::move(list), std::nullopt}).has_value());
}

size_t Count(engine::Database* db, const std::string& project, const std::string& subject) {
  engine::QuerySpec q;
  q.project = project;
  q.subject = subject;
  q.history = true;
  q.limit = 1000;
  Result<engine::QueryPage> page = db->Query(q);
  EXPECT_TRUE(page.has_value());
  return page ? page->assertions.size() : 0;
}

TEST(RetentionSweeperTest, ExpiresPastRetainDaysExceptUnderHold) {
  TempDatabase store;
  ASSERT_NO_FATAL_FAILURE(store.Open());
  engine::Database* db = store.get();
  auth::AuditLog audit(db);
  ASSERT_TRUE(audit.Load().ok());
  ASSERT_NO_FATAL_FAILURE(Register(db, "short", 1));
  ASSERT_NO_FATAL_FAILURE(Register(db, "forever", 0));
  ASSERT_NO_FATAL_FAILURE(Register(db, "held", 1));
  ASSERT_NO_FATAL_FAILURE(Register(db, "frozen", 1));
  for (const char* p : {"short", "forever", "held", "frozen"}) {
    ASSERT_NO_FATAL_FAILURE(Write(db, p, {"a", "b"}));
  }
  LegalHolds holds(db, &audit);
  ASSERT_TRUE(holds.Place({"held", "a", UnixMicrosNow(), "test", "case 1"}).has_value());
  ASSERT_TRUE(holds.Place({"frozen", "", UnixMicrosNow(), "test", "case 2"}).has_value());

  // With the real clock nothing is a day old: a sweep removes nothing.
  RetentionSweeper now(db, RetentionOptions{.batch = 4});
  Result<uint64_t> removed = now.SweepOnce();
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(*removed, 0u);

  // Two days later: "short" is empty, "held" keeps its held subject,
  // "frozen" (held as a whole) and "forever" (no retention) keep everything.
  RetentionSweeper later(db, RetentionOptions{.batch = 4, .max_per_second = 1000000, .now_us = [] {
                                                return UnixMicrosNow() + 2 * kDay;
                                              }});
  removed = later.SweepOnce();
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(*removed, 9u);
  EXPECT_EQ(Count(db, "short", "a"), 0u);
  EXPECT_EQ(Count(db, "short", "b"), 0u);
  EXPECT_EQ(Count(db, "held", "a"), 3u);
  EXPECT_EQ(Count(db, "held", "b"), 0u);
  EXPECT_EQ(Count(db, "frozen", "a"), 3u);
  EXPECT_EQ(Count(db, "frozen", "b"), 3u);
  EXPECT_EQ(Count(db, "forever", "a"), 3u);
  const std::optional<engine::ProjectFigures> figures = db->GetProjectFigures("short");
  ASSERT_TRUE(figures.has_value());
  EXPECT_EQ(figures->assertions, 0);
  EXPECT_EQ(figures->stored_bytes, 0);

  // Through the WAL: a restart (replay included) shows the same.
  store.Reopen();
  db = store.get();
  EXPECT_EQ(Count(db, "short", "a"), 0u);
  EXPECT_EQ(Count(db, "held", "a"), 3u);

  // Released, the hold no longer keeps anything.
  auth::AuditLog audit2(db);
  ASSERT_TRUE(audit2.Load().ok());
  LegalHolds holds2(db, &audit2);
  ASSERT_TRUE(holds2.Release("frozen", "", "test", UnixMicrosNow()).ok());
  RetentionSweeper again(db, RetentionOptions{.now_us = [] { return UnixMicrosNow() + 2 * kDay; }});
  removed = again.SweepOnce();
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(*removed, 6u);
  EXPECT_EQ(Count(db, "frozen", "a"), 0u);
  EXPECT_EQ(Count(db, "held", "a"), 3u);
}

// Each erase entry holds at most `batch` ids: an entry is one WAL record and
// one LSN, so the LSNs a sweep takes count its entries.
TEST(RetentionSweeperTest, EraseEntriesHoldAtMostBatchIds) {
  TempDatabase store;
  ASSERT_NO_FATAL_FAILURE(store.Open());
  engine::Database* db = store.get();
  ASSERT_NO_FATAL_FAILURE(Register(db, "short", 1));
  ASSERT_NO_FATAL_FAILURE(Write(db, "short", {"a", "b", "c", "d", "e", "f", "g"}));  // 21 ids
  const Lsn before = db->applied_lsn();
  RetentionSweeper sweeper(db,
                           RetentionOptions{.batch = 5, .max_per_second = 1000000, .now_us = [] {
                                              return UnixMicrosNow() + 2 * kDay;
                                            }});
  Result<uint64_t> removed = sweeper.SweepOnce();
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(*removed, 21u);
  EXPECT_EQ(db->applied_lsn().value() - before.value(), 5u);  // 5+5+5+5+1
}

// The pacing: after an entry of n ids the sweep waits until n / rate has
// passed since the entry began, and never saves up time for a burst.
TEST(RetentionSweeperTest, PauseKeepsTheRateAtMostMaxPerSecond) {
  using std::chrono::microseconds;
  EXPECT_EQ(RetentionPause(100, microseconds(0), 5000), microseconds(20000));
  EXPECT_EQ(RetentionPause(100, microseconds(3000), 5000), microseconds(17000));
  EXPECT_EQ(RetentionPause(50, microseconds(0), 5000), microseconds(10000));
  EXPECT_EQ(RetentionPause(1, microseconds(0), 3), microseconds(333333));
  // A step slower than its budget: no wait, and no credit either.
  EXPECT_EQ(RetentionPause(100, microseconds(25000), 5000), microseconds(0));
  EXPECT_EQ(RetentionPause(0, microseconds(0), 5000), microseconds(0));
  // No overflow at the extremes of the settings.
  EXPECT_EQ(RetentionPause(10000, microseconds(0), 1), microseconds(10000LL * 1000000));
  EXPECT_EQ(RetentionPause(1, microseconds(0), 1000000), microseconds(1));
}

}  // namespace
}  // namespace stemedb::api
