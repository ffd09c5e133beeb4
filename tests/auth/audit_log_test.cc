#include "auth/audit_log.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "tests/auth/temp_database.h"

namespace stemedb::auth {
namespace {

using testing::kSecond;
using testing::kT0;
using testing::TempDatabase;

Status Append(engine::Database* db, AuditLog* log, int i) {
  AuditRecord r;
  r.time_us = kT0 + i * kSecond;
  r.actor_key_id = "actor";
  r.action = "test.action";
  r.target = "t" + std::to_string(i);
  r.detail = "n=" + std::to_string(i);
  engine::SystemEntry entry;
  entry.writes.push_back(log->MakeAuditWrite(r));
  Result<engine::CommitInfo> done = db->Submit(std::move(entry));
  return done ? Status::OK() : done.error();
}

TEST(AuditLogTest, ListsNewestFirstWithLimitAndCursor) {
  TempDatabase db;
  ASSERT_NO_FATAL_FAILURE(db.Open());
  AuditLog log(db.get());
  ASSERT_TRUE(log.Load().ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Append(db.get(), &log, i).ok());

  Result<std::vector<AuditRecord>> all = log.List(100, 0);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ((*all)[i].target, "t" + std::to_string(9 - i));
    if (i > 0) {
      EXPECT_LT((*all)[i].seq, (*all)[i - 1].seq);
    }
  }
  Result<std::vector<AuditRecord>> page = log.List(3, 0);
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].target, "t9");
  EXPECT_EQ((*page)[2].target, "t7");
  Result<std::vector<AuditRecord>> next = log.List(3, (*page)[2].seq);
  ASSERT_EQ(next->size(), 3u);
  EXPECT_EQ((*next)[0].target, "t6");
  EXPECT_EQ((*next)[2].target, "t4");
  EXPECT_TRUE(log.List(0, 0)->empty());

  boost::json::object o = boost::json::parse(AuditRecordJson((*all)[0])).as_object();
  EXPECT_EQ(o.at("action").as_string(), "test.action");
  EXPECT_EQ(o.at("actor_key_id").as_string(), "actor");
  EXPECT_EQ(o.at("target").as_string(), "t9");
  EXPECT_EQ(o.at("detail").as_string(), "n=9");
  EXPECT_EQ(o.at("time").as_string(), "2027-01-15T08:00:09.000000Z");
  EXPECT_EQ(o.at("seq").to_number<uint64_t>(), (*all)[0].seq);
}

TEST(AuditLogTest, SequenceContinuesAfterReopen) {
  TempDatabase db;
  ASSERT_NO_FATAL_FAILURE(db.Open());
  uint64_t last_before = 0;
  {
    AuditLog log(db.get());
    ASSERT_TRUE(log.Load().ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(Append(db.get(), &log, i).ok());
    last_before = (*log.List(1, 0))[0].seq;
  }
  db.Reopen();
  AuditLog log(db.get());
  ASSERT_TRUE(log.Load().ok());
  ASSERT_TRUE(Append(db.get(), &log, 3).ok());
  Result<std::vector<AuditRecord>> all = log.List(10, 0);
  ASSERT_EQ(all->size(), 4u) << "no record overwritten";
  EXPECT_GT((*all)[0].seq, last_before);
  EXPECT_EQ((*all)[0].target, "t3");
}

}  // namespace
}  // namespace stemedb::auth
