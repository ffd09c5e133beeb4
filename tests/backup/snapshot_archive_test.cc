// WriteSnapshotArchive against a real engine::Database (RocksDB + WAL):
// archive while writes continue, restore, reopen, and compare.
#include "backup/snapshot_archive.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "backup/archive_reader.h"
#include "tests/backup/backup_test_util.h"
#include "tests/engine/engine_test_util.h"

namespace stemedb::backup {
namespace {

using testing::DirIsEmpty;
using testing::TempDir;

std::unique_ptr<engine::Database> OpenDb(const std::string& root) {
  return engine::testing::OpenOrDie(engine::testing::TestOptions(root));
}

engine::LogEntry Assertion(int i) {
  engine::AssertBatchEntry batch;
  batch.project = "p";
  engine::NewAssertion a;
  a.id = "a" + std::to_string(i);
  a.subject = "s" + std::to_string(i % 17);
  a.predicate = "pred";
  a.agent_id = "agent";
  a.value_json = "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(200, 'x') + "\"}";
  batch.assertions.push_back(std::move(a));
  return batch;
}

class SnapshotArchiveTest : public ::testing::Test {
 protected:
  // Streams a backup into snap.tar while `writer` keeps submitting.
  Result<SnapshotInfo> Backup(engine::Database& db) {
    std::ofstream out(tmp_.Sub("snap.tar"), std::ios::binary | std::ios::trunc);
    return WriteSnapshotArchive(
        db, {tmp_.Sub("db/backup-scratch"), "test-version"}, [&](std::string_view chunk) {
          out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
          return out.good() ? Status::OK() : Status::IOError("write");
        });
  }
  TempDir tmp_;
};

TEST_F(SnapshotArchiveTest, RestoredStoreHoldsExactlyTheWritesUpToTheSnapshotLsn) {
  auto db = OpenDb(tmp_.path());
  ASSERT_NE(db, nullptr);
  std::mutex mu;
  std::map<int, uint64_t> acked;  // i -> lsn
  int next = 0;
  for (; next < 300; ++next) {
    auto c = db->Submit(Assertion(next));
    ASSERT_TRUE(c) << c.error().ToString();
    acked[next] = c->lsn.value();
  }
  engine::SystemEntry sys;
  sys.writes.push_back({engine::SystemTable::kApiKeys, "key1", std::string("record1")});
  ASSERT_TRUE(db->Submit(sys));
  ASSERT_TRUE(db->FlushAndPurge());  // some data in SSTs, some only in memtables

  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 300; !stop.load() && i < 5000; ++i) {
      auto c = db->Submit(Assertion(i));
      if (!c) break;
      std::lock_guard<std::mutex> lock(mu);
      acked[i] = c->lsn.value();
    }
  });
  // Let the writer get going, so the checkpoint lands mid-stream.
  while (true) {
    std::lock_guard<std::mutex> lock(mu);
    if (acked.size() > 400) break;
  }
  auto info = Backup(*db);
  stop.store(true);
  writer.join();
  ASSERT_TRUE(info) << info.error().ToString();
  const uint64_t snap = info->snapshot_lsn;
  EXPECT_GE(snap, 301u);
  EXPECT_GT(info->files, 0u);
  EXPECT_TRUE(DirIsEmpty(tmp_.Sub("db/backup-scratch")));  // checkpoint removed

  std::map<int, std::string> original;
  for (const auto& [i, lsn] : acked) {
    auto a = db->GetAssertion("p", "a" + std::to_string(i));
    ASSERT_TRUE(a) << i;
    original[i] = a->json;
  }
  ASSERT_TRUE(db->Close().ok());
  db.reset();

  std::string restored = tmp_.Sub("restored");
  auto summary = ReadSnapshotArchiveFile(tmp_.Sub("snap.tar"), {restored, ""});
  ASSERT_TRUE(summary) << summary.error().ToString();
  EXPECT_EQ(summary->manifest.snapshot_lsn, snap);
  EXPECT_EQ(summary->manifest.server_version, "test-version");

  auto db2 = OpenDb(restored);
  ASSERT_NE(db2, nullptr);
  EXPECT_EQ(db2->applied_lsn().value(), snap);
  size_t before = 0, after = 0;
  for (const auto& [i, lsn] : acked) {
    auto a = db2->GetAssertion("p", "a" + std::to_string(i));
    if (lsn <= snap) {
      ASSERT_TRUE(a) << "assertion " << i << " lsn " << lsn << " missing (snapshot " << snap << ")";
      EXPECT_EQ(a->json, original[i]);
      ++before;
    } else {
      EXPECT_FALSE(a) << "assertion " << i << " lsn " << lsn << " after snapshot " << snap;
      ++after;
    }
  }
  EXPECT_GE(before, 301u);
  auto key = db2->GetSystem(engine::SystemTable::kApiKeys, "key1");
  ASSERT_TRUE(key);
  EXPECT_EQ(key->value_or(""), "record1");
  auto c = db2->Submit(Assertion(999999));
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->lsn.value(), snap + 1);  // the WAL continues after the snapshot
  ASSERT_TRUE(db2->Close().ok());
  std::cout << "snapshot_lsn " << snap << ": " << before << " writes before, " << after
            << " after\n";
}

TEST_F(SnapshotArchiveTest, SinkFailureAbortsAndRemovesTheCheckpoint) {
  auto db = OpenDb(tmp_.path());
  ASSERT_NE(db, nullptr);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(db->Submit(Assertion(i)));
  int calls = 0;
  auto info = WriteSnapshotArchive(*db, {tmp_.Sub("scratch"), "v"}, [&](std::string_view) {
    return ++calls > 1 ? Status::IOError("client went away") : Status::OK();
  });
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message().find("client went away"), std::string::npos);
  EXPECT_TRUE(DirIsEmpty(tmp_.Sub("scratch")));
  EXPECT_TRUE(db->Submit(Assertion(50)));  // the store is unaffected
  ASSERT_TRUE(db->Close().ok());
}

}  // namespace
}  // namespace stemedb::backup
