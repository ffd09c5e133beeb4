#include "engine_test_util.h"

#include <stdlib.h>

#include <filesystem>

namespace stemedb::engine::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/stemedb-engine-XXXXXX";
  const char* p = mkdtemp(tmpl);
  EXPECT_NE(p, nullptr);
  path_ = p != nullptr ? p : "/tmp/stemedb-engine-failed";
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

DatabaseOptions TestOptions(const std::string& root) {
  DatabaseOptions o;
  o.db_dir = root + "/db";
  o.wal.dir = root + "/wal";
  o.wal.sync_policy = wal::SyncPolicy::kAlways;
  o.wal.segment_bytes = 1 << 20;
  o.memtable_budget_bytes = 16 << 20;
  o.block_cache_bytes = 8 << 20;
  return o;
}

std::unique_ptr<Database> OpenOrDie(const DatabaseOptions& o, ReplayProgress* p) {
  Result<std::unique_ptr<Database>> db = Database::Open(o, p);
  EXPECT_TRUE(db) << (db ? "" : db.error().ToString());
  return db ? std::move(*db) : nullptr;
}

NewAssertion A(std::string id, std::string subject, std::string predicate, std::string agent,
               std::string value_json) {
  NewAssertion a;
  a.id = std::move(id);
  a.subject = std::move(subject);
  a.predicate = std::move(predicate);
  a.agent_id = std::move(agent);
  a.value_json = std::move(value_json);
  return a;
}

LogEntry Batch(std::string project, std::vector<NewAssertion> as,
               std::optional<IdempotencyToken> token) {
  return AssertBatchEntry{std::move(project), std::move(as), std::move(token)};
}

LogEntry Retract(std::string project, std::string retraction_id, std::string target,
                 std::optional<IdempotencyToken> token) {
  return RetractEntry{std::move(project), std::move(retraction_id), std::move(target),
                      std::move(token)};
}

CommitInfo MustSubmit(Database* db, LogEntry e) {
  Result<CommitInfo> r = db->Submit(std::move(e));
  EXPECT_TRUE(r) << (r ? "" : r.error().ToString());
  return r ? *r : CommitInfo{};
}

std::vector<std::string> Ids(const QueryPage& page) {
  std::vector<std::string> ids;
  for (const auto& a : page.assertions) ids.push_back(a.id);
  return ids;
}

std::vector<std::string> AllIds(Database* db, QuerySpec spec) {
  std::vector<std::string> ids;
  for (int guard = 0; guard < 10000; ++guard) {
    Result<QueryPage> page = db->Query(spec);
    EXPECT_TRUE(page) << (page ? "" : page.error().ToString());
    if (!page) break;
    for (auto& id : Ids(*page)) ids.push_back(id);
    if (page->next_cursor.empty()) break;
    spec.cursor = page->next_cursor;
  }
  return ids;
}

void Crash(std::unique_ptr<Database> db) {
  auto* impl = dynamic_cast<DbImpl*>(db.get());
  ASSERT_NE(impl, nullptr);
  impl->TEST_CrashClose();
}

}  // namespace stemedb::engine::testing
