// Shared fixtures for the engine tests: a fresh temp dir and helpers that
// build entries and open a Database over real RocksDB and a real WAL.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/database.h"
#include "engine/db_impl.h"

namespace stemedb::engine::testing {

// mkdtemp under /tmp; removed recursively on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

DatabaseOptions TestOptions(const std::string& root);
// Opens and asserts success.
std::unique_ptr<Database> OpenOrDie(const DatabaseOptions& o, ReplayProgress* p = nullptr);

NewAssertion A(std::string id, std::string subject, std::string predicate, std::string agent,
               std::string value_json);
LogEntry Batch(std::string project, std::vector<NewAssertion> as,
               std::optional<IdempotencyToken> token = std::nullopt);
LogEntry Retract(std::string project, std::string retraction_id, std::string target,
                 std::optional<IdempotencyToken> token = std::nullopt);

// Submits and asserts success; returns the commit.
CommitInfo MustSubmit(Database* db, LogEntry e);

// Every page of a query, concatenated (ids only).
std::vector<std::string> AllIds(Database* db, QuerySpec spec);
std::vector<std::string> Ids(const QueryPage& page);

// Simulates a crash: memtables are dropped, only the WAL survives.
void Crash(std::unique_ptr<Database> db);

}  // namespace stemedb::engine::testing
