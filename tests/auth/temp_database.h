// A real engine::Database in a fresh temp directory, for auth/ tests that
// need storage (and a close/reopen to prove durability).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/database.h"

namespace stemedb::auth::testing {

class TempDatabase {
 public:
  TempDatabase() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "stemedb_auth_XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) dir_ = tmpl;
  }
  ~TempDatabase() {
    Close();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;

  // Use as ASSERT_NO_FATAL_FAILURE(db.Open()).
  void Open() {
    ASSERT_FALSE(dir_.empty()) << "mkdtemp failed";
    engine::DatabaseOptions options;
    options.db_dir = dir_ + "/db";
    options.wal.dir = dir_ + "/wal";
    Result<std::unique_ptr<engine::Database>> db = engine::Database::Open(options, nullptr);
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    db_ = std::move(*db);
  }
  void Close() {
    if (db_) {
      Status s = db_->Close();
      EXPECT_TRUE(s.ok()) << s.ToString();
      db_.reset();
    }
  }
  void Reopen() {
    Close();
    Open();
  }
  engine::Database* get() const { return db_.get(); }

 private:
  std::string dir_;
  std::unique_ptr<engine::Database> db_;
};

// A fixed "now" for tests that reason about time without sleeping.
inline constexpr int64_t kT0 = 1'800'000'000'000'000;  // 2027-01-15T08:00:00Z
inline constexpr int64_t kSecond = 1'000'000;

}  // namespace stemedb::auth::testing
