// Per-project figures and quotas in the engine (engine/project_usage.h,
// engine/FORMAT.md §8): exact across batches, retractions, rejected entries,
// crashes (replay), checkpoints and a store that predates them; a quota
// refuses a whole batch deterministically, also on replay.
#include "engine/project_usage.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <memory>

#include "engine/keys.h"
#include "engine/project_record.h"
#include "tests/engine/engine_test_util.h"

namespace stemedb::engine {
namespace {

using testing::A;
using testing::Batch;
using testing::MustSubmit;
using testing::OpenOrDie;
using testing::Retract;
using testing::TempDir;
using testing::TestOptions;

LogEntry Limits(const std::string& project, uint64_t max_assertions, uint64_t max_bytes) {
  ProjectRecord r;
  r.max_assertions = max_assertions;
  r.max_bytes = max_bytes;
  r.created_at_us = 1;
  SystemEntry e;
  e.writes.push_back(SystemWrite{SystemTable::kProjects, project, EncodeProjectRecord(r)});
  return e;
}

// Hex ids of the shape api/ makes (32 chars), unique per n.
std::string Id(int n) {
  char buf[33];
  snprintf(buf, sizeof buf, "%032x", n);
  return buf;
}

ProjectFigures Figures(Database* db, const std::string& project) {
  return db->GetProjectFigures(project).value_or(ProjectFigures{});
}

void ExpectRecountConsistent(Database* db, const std::string& project) {
  auto r = db->RecountProject(project);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->counted.assertions, r->recorded.assertions) << project;
  EXPECT_EQ(r->counted.stored_bytes, r->recorded.stored_bytes) << project;
  const ProjectFigures live = Figures(db, project);
  EXPECT_EQ(r->recorded.assertions, live.assertions) << project;
  EXPECT_EQ(r->recorded.stored_bytes, live.stored_bytes) << project;
}

// A mixed history in two projects, rejected entries included.
void WriteHistory(Database* db) {
  MustSubmit(db, Batch("p", {A(Id(1), "s1", "name", "a", R"("x")"),
                             A(Id(2), "s1", "age", "a", "41"), A(Id(3), "s2", "name", "b", "1")}));
  MustSubmit(db, Batch("q", {A(Id(4), "s", "p", "a", "true")}));
  MustSubmit(db, Retract("p", Id(100), Id(2)));
  // Rejected: a duplicate id in one batch, a retraction of another
  // project's id. Neither may count.
  EXPECT_FALSE(
      db->Submit(Batch("p", {A(Id(5), "s", "p", "a", "1"), A(Id(5), "s", "p", "a", "2")})));
  EXPECT_FALSE(db->Submit(Retract("p", Id(101), Id(4))));
  MustSubmit(db, Batch("p", {A(Id(6), "s3", "name", "a", R"({"k":[1,2]})")}));
}

TEST(ProjectUsageTest, FiguresAreExactAndEqualARecount) {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  WriteHistory(db.get());
  const ProjectFigures p = Figures(db.get(), "p");
  EXPECT_EQ(p.assertions, 4);  // a retracted assertion is still stored
  EXPECT_GT(p.stored_bytes, 0);
  EXPECT_GT(p.last_write_us, 0);
  EXPECT_EQ(Figures(db.get(), "q").assertions, 1);
  EXPECT_FALSE(db->GetProjectFigures("never"));
  ExpectRecountConsistent(db.get(), "p");
  ExpectRecountConsistent(db.get(), "q");
  ASSERT_TRUE(db->Close().ok());
}

TEST(ProjectUsageTest, StoredBytesIsTheSizeOfTheRecordsAndTheirKeys) {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  MustSubmit(db.get(), Batch("p", {A(Id(1), "s", "name", "a", R"("x")")}));
  const int64_t one = Figures(db.get(), "p").stored_bytes;
  // id + record + three index keys: the index key alone is longer than the id.
  const size_t key = IndexKey(IndexId::kSubject, "p", "s", "name", "a", Lsn(1), 0, Id(1)).size();
  EXPECT_GT(one, static_cast<int64_t>(Id(1).size() + 3 * key));
  // A retraction adds its record and grows the retracted one.
  MustSubmit(db.get(), Retract("p", Id(2), Id(1)));
  EXPECT_GT(Figures(db.get(), "p").stored_bytes, one + static_cast<int64_t>(Id(2).size()));
  EXPECT_EQ(Figures(db.get(), "p").assertions, 1);
  ExpectRecountConsistent(db.get(), "p");
  ASSERT_TRUE(db->Close().ok());
}

TEST(ProjectUsageTest, QuotaRefusesTheWholeBatchAndConsumesItsLsn) {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  MustSubmit(db.get(), Limits("p", 3, 0));
  MustSubmit(db.get(), Batch("p", {A(Id(1), "s", "p", "a", "1"), A(Id(2), "s", "p", "a", "2")}));
  const Lsn before = db->applied_lsn();
  auto refused =
      db->Submit(Batch("p", {A(Id(3), "s", "p", "a", "3"), A(Id(4), "s", "p", "a", "4")}));
  ASSERT_FALSE(refused);
  ASSERT_EQ(refused.error().code(), Status::Code::kQuotaExceeded) << refused.error().ToString();
  auto q = ParseQuotaRefusal(refused.error());
  ASSERT_TRUE(q) << refused.error().message();
  EXPECT_EQ(q->project, "p");
  EXPECT_EQ(q->quota, "max_assertions");
  EXPECT_EQ(q->limit, 3u);
  EXPECT_EQ(q->current, 2u);
  EXPECT_EQ(q->adding, 2u);
  EXPECT_EQ(db->applied_lsn(), before.next()) << "a refusal consumes its LSN";
  EXPECT_FALSE(db->GetAssertion("p", Id(3))) << "nothing of the batch is written";
  EXPECT_EQ(Figures(db.get(), "p").assertions, 2);
  // Exactly at the limit is allowed; other projects are unaffected.
  MustSubmit(db.get(), Batch("p", {A(Id(5), "s", "p", "a", "5")}));
  EXPECT_FALSE(db->Submit(Batch("p", {A(Id(6), "s", "p", "a", "6")})));
  for (int i = 0; i < 10; ++i)
    MustSubmit(db.get(), Batch("q", {A(Id(100 + i), "s", "p", "a", "1")}));
  // Retractions are never refused by a quota.
  MustSubmit(db.get(), Retract("p", Id(7), Id(1)));
  ExpectRecountConsistent(db.get(), "p");

  // A byte quota: the next write would pass it by one byte at most.
  const int64_t bytes = Figures(db.get(), "q").stored_bytes;
  MustSubmit(db.get(), Limits("q", 0, static_cast<uint64_t>(bytes) + 1));
  auto over = db->Submit(Batch("q", {A(Id(200), "s", "p", "a", "1")}));
  ASSERT_FALSE(over);
  auto qb = ParseQuotaRefusal(over.error());
  ASSERT_TRUE(qb);
  EXPECT_EQ(qb->quota, "max_bytes");
  EXPECT_EQ(qb->current, static_cast<uint64_t>(bytes));
  // Exactly at the byte limit is allowed.
  MustSubmit(db.get(), Limits("q", 0, static_cast<uint64_t>(bytes) + qb->adding));
  MustSubmit(db.get(), Batch("q", {A(Id(201), "s", "p", "a", "1")}));
  EXPECT_EQ(Figures(db.get(), "q").stored_bytes, bytes + static_cast<int64_t>(qb->adding));
  ASSERT_TRUE(db->Close().ok());
}

TEST(ProjectUsageTest, ReplayAfterACrashReachesTheSameFiguresAndDecisions) {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  WriteHistory(db.get());
  MustSubmit(db.get(), Limits("p", 4, 0));
  // Refused at limit 4; the limit is raised afterwards. Replay must not
  // re-decide the refused entry against the later limit.
  ASSERT_FALSE(db->Submit(Batch("p", {A(Id(50), "s", "p", "a", "1")})));
  MustSubmit(db.get(), Limits("p", 10, 0));
  MustSubmit(db.get(), Batch("p", {A(Id(51), "s", "p", "a", "1")}));
  const ProjectFigures p = Figures(db.get(), "p");
  const ProjectFigures q = Figures(db.get(), "q");
  testing::Crash(std::move(db));

  db = OpenOrDie(TestOptions(dir.path()));
  const ProjectFigures p2 = Figures(db.get(), "p");
  EXPECT_EQ(p2.assertions, p.assertions);
  EXPECT_EQ(p2.stored_bytes, p.stored_bytes);
  EXPECT_EQ(p2.last_write_us, p.last_write_us);
  EXPECT_EQ(Figures(db.get(), "q").stored_bytes, q.stored_bytes);
  EXPECT_FALSE(db->GetAssertion("p", Id(50))) << "the refused write stays refused";
  EXPECT_TRUE(db->GetAssertion("p", Id(51)));
  ExpectRecountConsistent(db.get(), "p");
  // The limit is known again after the restart.
  for (int i = 0; i < 5; ++i) MustSubmit(db.get(), Batch("p", {A(Id(60 + i), "s", "p", "a", "1")}));
  EXPECT_FALSE(db->Submit(Batch("p", {A(Id(70), "s", "p", "a", "1")})));
  ASSERT_TRUE(db->Close().ok());
}

TEST(ProjectUsageTest, ACheckpointCarriesTheFigures) {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  WriteHistory(db.get());
  const ProjectFigures p = Figures(db.get(), "p");
  ASSERT_TRUE(db->CreateCheckpoint(dir.Sub("ckpt")));
  ASSERT_TRUE(db->Close().ok());
  DatabaseOptions o = TestOptions(dir.Sub("restored"));
  o.db_dir = dir.Sub("ckpt");
  auto restored = OpenOrDie(o);
  EXPECT_EQ(Figures(restored.get(), "p").stored_bytes, p.stored_bytes);
  EXPECT_EQ(Figures(restored.get(), "p").assertions, p.assertions);
  ExpectRecountConsistent(restored.get(), "p");
  ASSERT_TRUE(restored->Close().ok());
}

TEST(ProjectUsageTest, AStoreWithoutFiguresIsCountedOnceAtOpen) {
  TempDir dir;
  const DatabaseOptions o = TestOptions(dir.path());
  auto db = OpenOrDie(o);
  WriteHistory(db.get());
  const ProjectFigures p = Figures(db.get(), "p");
  ASSERT_TRUE(db->Close().ok());
  {
    // What a store written before per-project accounting looks like.
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), o.db_dir, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const std::string& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), o.db_dir, cfs, &handles, &raw).ok());
    rocksdb::ColumnFamilyHandle* meta = nullptr;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == kCfMeta) meta = handles[i];
    }
    ASSERT_NE(meta, nullptr);
    ASSERT_TRUE(raw->Delete(rocksdb::WriteOptions(), meta, "usage_version").ok());
    ASSERT_TRUE(raw->Delete(rocksdb::WriteOptions(), meta, ProjectUsage::MetaKey("p")).ok());
    ASSERT_TRUE(raw->Delete(rocksdb::WriteOptions(), meta, ProjectUsage::MetaKey("q")).ok());
    ASSERT_TRUE(raw->Flush(rocksdb::FlushOptions(), meta).ok());
    for (auto* h : handles) ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
    delete raw;
  }
  db = OpenOrDie(o);
  EXPECT_EQ(Figures(db.get(), "p").assertions, p.assertions);
  EXPECT_EQ(Figures(db.get(), "p").stored_bytes, p.stored_bytes);
  ExpectRecountConsistent(db.get(), "p");
  ExpectRecountConsistent(db.get(), "q");
  ASSERT_TRUE(db->Close().ok());
}

TEST(ProjectRecordTest, RoundTripsAndRefusesGarbage) {
  ProjectRecord r{7, 1 << 20, 30, 123456};
  auto d = DecodeProjectRecord(EncodeProjectRecord(r));
  ASSERT_TRUE(d);
  EXPECT_TRUE(*d == r);
  EXPECT_FALSE(DecodeProjectRecord(""));
  EXPECT_FALSE(DecodeProjectRecord(EncodeProjectRecord(r) + "x"));
  // An invalid registry record is refused as a whole (a no-op).
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  SystemEntry e;
  e.writes.push_back(SystemWrite{SystemTable::kProjects, "p", std::string("junk")});
  auto bad = db->Submit(e);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Status::Code::kConflict);
  auto stored = db->GetSystem(SystemTable::kProjects, "p");
  ASSERT_TRUE(stored);
  EXPECT_FALSE(*stored);
  ASSERT_TRUE(db->Close().ok());
}

}  // namespace
}  // namespace stemedb::engine
