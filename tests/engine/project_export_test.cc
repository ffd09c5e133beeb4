// Database::ExportScan and the apply of ImportEntry (WAL kind 6) against a
// real RocksDB and WAL: order, skipping, rejections that write nothing,
// the same state after a crash and replay, and resuming a scan after any line.
#include <boost/json/parse.hpp>

#include "engine/project_record.h"
#include "engine_test_util.h"
#include "util/time_format.h"

namespace stemedb::engine {
namespace {

using namespace stemedb::engine::testing;

ImportedRecord Imported(NewAssertion a, int64_t recorded_at_us) {
  ImportedRecord r;
  r.recorded_at_us = recorded_at_us;
  r.assertion = std::move(a);
  return r;
}

ImportedRecord ImportedRetraction(std::string id, std::string target, int64_t recorded_at_us) {
  ImportedRecord r;
  r.recorded_at_us = recorded_at_us;
  r.is_retraction = true;
  r.retraction_id = std::move(id);
  r.target_id = std::move(target);
  return r;
}

// Every line of the export of `project`, one line per scan step (max_lines
// 1, so every line is also a resume point).
std::vector<std::string> ScanAll(Database* db, const std::string& project, Lsn as_of,
                                 size_t max_lines = 1) {
  std::vector<std::string> lines;
  std::string after;
  for (int guard = 0; guard < 10000; ++guard) {
    Result<ExportChunk> c = db->ExportScan(project, as_of, after, max_lines);
    EXPECT_TRUE(c) << c.error().ToString();
    if (!c) break;
    lines.insert(lines.end(), c->lines.begin(), c->lines.end());
    if (c->done) break;
    after = c->last_id;
  }
  return lines;
}

std::string IdOf(const std::string& line) {
  return std::string(boost::json::parse(line).at("id").as_string());
}

constexpr int64_t kT1 = 1600000000000001, kT2 = 1600000000000002, kT3 = 1600000000000003;

ImportEntry History() {
  ImportEntry e;
  e.project = "p";
  e.records = {Imported(A("a1", "s", "c", "g", "1"), kT1),
               Imported(A("a2", "s", "c", "g", "2"), kT2), ImportedRetraction("r1", "a1", kT3)};
  return e;
}

TEST(ProjectExportTest, ImportKeepsIdsTimesAndOrderSkipsWhatIsThereAndReplaysTheSame) {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  const CommitInfo c = MustSubmit(db.get(), History());
  EXPECT_EQ(c.ids, (std::vector<std::string>{"a1", "a2", "r1"}));
  EXPECT_EQ(c.skipped, 0u);
  Result<StoredAssertion> a1 = db->GetAssertion("p", "a1");
  ASSERT_TRUE(a1);
  EXPECT_EQ(a1->retracted_lsn, c.lsn);
  EXPECT_EQ(a1->retraction_id, "r1");
  boost::json::value v = boost::json::parse(a1->json);
  EXPECT_EQ(v.at("recorded_at").as_string(), FormatRfc3339(kT1));
  EXPECT_EQ(v.at("lsn").as_int64(), static_cast<int64_t>(c.lsn.value()));
  EXPECT_EQ(v.at("project").as_string(), "p");

  // Subject-index order, each assertion followed by its retraction; no project.
  const std::vector<std::string> lines = ScanAll(db.get(), "p", db->applied_lsn());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(IdOf(lines[0]), "a1");
  EXPECT_EQ(IdOf(lines[1]), "r1");
  EXPECT_EQ(IdOf(lines[2]), "a2");
  for (const std::string& line : lines) EXPECT_EQ(line.find("\"project\""), std::string::npos);
  EXPECT_NE(lines[1].find(FormatRfc3339(kT3)), std::string::npos) << lines[1];
  EXPECT_EQ(ScanAll(db.get(), "p", db->applied_lsn(), 1000), lines);

  // The same entry again writes nothing.
  const CommitInfo again = MustSubmit(db.get(), History());
  EXPECT_TRUE(again.ids.empty());
  EXPECT_EQ(again.skipped, 3u);
  EXPECT_EQ(db->GetAssertion("p", "a1")->retracted_lsn, c.lsn);

  // Replayed from the WAL alone, the store is the same.
  const Lsn applied = db->applied_lsn();
  Crash(std::move(db));
  db = OpenOrDie(TestOptions(dir.path()));
  EXPECT_EQ(db->applied_lsn(), applied);
  EXPECT_EQ(ScanAll(db.get(), "p", applied), lines);
  EXPECT_TRUE(db->Close().ok());
}

TEST(ProjectExportTest, RejectedImportsWriteNothing) {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  MustSubmit(db.get(), Batch("q", {A("x", "s", "c", "g", "1")}));
  MustSubmit(db.get(), Batch("p", {A("y", "s", "c", "g", "1")}));
  MustSubmit(db.get(), Retract("p", "ry", "y"));

  ImportEntry other_project{
      "p", {Imported(A("n1", "s", "c", "g", "1"), kT1), Imported(A("x", "s", "c", "g", "1"), kT2)}};
  EXPECT_EQ(db->Submit(other_project).error().code(), Status::Code::kConflict);
  ImportEntry missing_target{
      "p", {Imported(A("n2", "s", "c", "g", "1"), kT1), ImportedRetraction("r9", "missing", kT2)}};
  EXPECT_TRUE(db->Submit(missing_target).error().IsNotFound());
  ImportEntry retracted_twice{"p", {ImportedRetraction("r8", "y", kT1)}};
  EXPECT_EQ(db->Submit(retracted_twice).error().code(), Status::Code::kConflict);
  ImportEntry id_is_a_retraction{"p", {Imported(A("ry", "s", "c", "g", "1"), kT1)}};
  EXPECT_EQ(db->Submit(id_is_a_retraction).error().code(), Status::Code::kConflict);

  EXPECT_TRUE(db->GetAssertion("p", "n1").error().IsNotFound());
  EXPECT_TRUE(db->GetAssertion("p", "n2").error().IsNotFound());
  EXPECT_TRUE(db->GetRetraction("p", "r8").error().IsNotFound());
  EXPECT_EQ(db->GetAssertion("p", "y")->retraction_id, "ry");
  EXPECT_EQ(ScanAll(db.get(), "p", db->applied_lsn()).size(), 2u);
  EXPECT_TRUE(db->Close().ok());
}

TEST(ProjectExportTest, ScanIsAsOfOneLsnAndResumesAfterAnyLine) {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  std::vector<NewAssertion> batch;
  for (int i = 0; i < 50; ++i) {
    batch.push_back(A("id" + std::to_string(i), "s" + std::to_string(i % 7), "c",
                      "g" + std::to_string(i % 3), std::to_string(i)));
  }
  MustSubmit(db.get(), Batch("p", batch));
  MustSubmit(db.get(), Batch("other", {A("o1", "s0", "c", "g0", "1")}));
  for (int i = 0; i < 50; i += 6)
    MustSubmit(db.get(), Retract("p", "r" + std::to_string(i), "id" + std::to_string(i)));
  const Lsn as_of = db->applied_lsn();
  const std::vector<std::string> full = ScanAll(db.get(), "p", as_of, 1000);
  ASSERT_EQ(full.size(), 50u + 9);
  // Resumed after every single line: the same lines.
  EXPECT_EQ(ScanAll(db.get(), "p", as_of, 1), full);
  EXPECT_EQ(ScanAll(db.get(), "p", as_of, 7), full);

  // Later writes are invisible at as_of, and an earlier as_of shows less.
  MustSubmit(db.get(), Batch("p", {A("late", "s0", "c", "g0", "9")}));
  MustSubmit(db.get(), Retract("p", "r1", "id1"));
  EXPECT_EQ(ScanAll(db.get(), "p", as_of, 5), full);
  EXPECT_EQ(ScanAll(db.get(), "p", Lsn(2), 1000).size(), 50u);

  // A cursor that is no line of this export.
  EXPECT_EQ(db->ExportScan("p", as_of, "o1", 10).error().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(db->ExportScan("p", as_of, "late", 10).error().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(db->ExportScan("p", as_of, "r1", 10).error().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(db->ExportScan("p", as_of, "nope", 10).error().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(db->Close().ok());
}

// Imports count in the project's figures exactly (a recount agrees) and are
// refused whole past its quota, like any write.
TEST(ProjectExportTest, ImportsCountAgainstUsageAndQuota) {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  ProjectRecord limits;
  limits.max_assertions = 3;
  limits.created_at_us = 1;
  SystemEntry set_limits;
  set_limits.writes.push_back(
      SystemWrite{SystemTable::kProjects, "p", EncodeProjectRecord(limits)});
  MustSubmit(db.get(), set_limits);
  MustSubmit(db.get(), History());  // 2 assertions, one retracted in the same entry
  auto check = [&](int64_t assertions) {
    EXPECT_EQ(db->GetProjectFigures("p").value_or(ProjectFigures{}).assertions, assertions);
    auto r = db->RecountProject("p");
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->counted.assertions, r->recorded.assertions);
    EXPECT_EQ(r->counted.stored_bytes, r->recorded.stored_bytes);
  };
  check(2);
  ImportEntry over{
      "p",
      {Imported(A("a3", "s", "c", "g", "3"), kT1), Imported(A("a4", "s", "c", "g", "4"), kT2)}};
  EXPECT_EQ(db->Submit(over).error().code(), Status::Code::kQuotaExceeded);
  EXPECT_TRUE(db->GetAssertion("p", "a3").error().IsNotFound());
  check(2);
  MustSubmit(db.get(), History());  // all skipped: nothing counted twice
  check(2);
  MustSubmit(db.get(), ImportEntry{"p", {Imported(A("a3", "s", "c", "g", "3"), kT1)}});
  check(3);
  EXPECT_TRUE(db->Close().ok());
}

}  // namespace
}  // namespace stemedb::engine
