#include <algorithm>
#include <filesystem>
#include <mutex>
#include <thread>

#include "engine_test_util.h"

namespace stemedb::engine {
namespace {

using namespace stemedb::engine::testing;

// Everything observable about the test data, for before/after comparisons.
struct Snapshot {
  Lsn applied;
  std::vector<std::string> jsons;
  std::vector<std::string> history;
  std::string beliefs;
  std::optional<std::string> system;
  bool operator==(const Snapshot&) const = default;
};

Snapshot Observe(Database* db) {
  Snapshot s;
  s.applied = db->applied_lsn();
  for (const char* id : {"a1", "a2", "a3", "a4"}) {
    Result<StoredAssertion> a = db->GetAssertion("p", id);
    s.jsons.push_back(a ? a->json + (a->retracted_lsn ? " retracted" : "") : "missing");
  }
  QuerySpec q;
  q.project = "p";
  q.subject = "s";
  q.history = true;
  s.history = AllIds(db, q);
  Result<std::vector<PredicateBeliefs>> b = db->Beliefs("p", "s", std::nullopt, std::nullopt);
  if (b) {
    for (auto& pb : *b) {
      s.beliefs += pb.predicate + (pb.conflict ? "!" : "") + ":";
      for (auto& v : pb.values) s.beliefs += v.value_json + ",";
    }
  }
  Result<std::optional<std::string>> sys = db->GetSystem(SystemTable::kSettings, "k");
  if (sys) s.system = *sys;
  return s;
}

// Reopens the store (recording the replay in *progress), expects exactly the
// state `before`, and closes it.
void ExpectReopensTo(const DatabaseOptions& o, const Snapshot& before, ReplayProgress* progress) {
  auto db = OpenOrDie(o, progress);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Observe(db.get()), before);
  EXPECT_TRUE(db->Close().ok());
}

void WriteWorkload(Database* db) {
  MustSubmit(
      db,
      Batch("p", {A("a1", "s", "color", "g1", "\"red\""), A("a2", "s", "color", "g2", "\"blue\"")},
            IdempotencyToken{"idem", "h1"}));
  MustSubmit(db, Batch("p", {A("a3", "s", "size", "g1", "3")}));
  MustSubmit(db, Retract("p", "r1", "a2"));
  EXPECT_TRUE(db->Submit(Retract("p", "r2", "missing")).error().IsNotFound());
  SystemEntry e;
  e.writes.push_back({SystemTable::kSettings, "k", "v"});
  MustSubmit(db, e);
  MustSubmit(db, Batch("p", {A("a4", "s", "color", "g1", "\"green\"")}));
}

TEST(RecoveryTest, CrashReplaysWalToIdenticalState) {
  TempDir dir;
  const DatabaseOptions o = TestOptions(dir.path());
  auto db = OpenOrDie(o);
  WriteWorkload(db.get());
  const Snapshot before = Observe(db.get());
  EXPECT_EQ(before.applied, Lsn(6));
  Crash(std::move(db));

  ReplayProgress progress;
  db = OpenOrDie(o, &progress);
  EXPECT_TRUE(progress.done.load());
  EXPECT_EQ(progress.records_replayed.load(), 6u);
  EXPECT_EQ(progress.start_lsn.load(), 1u);
  EXPECT_EQ(progress.end_lsn.load(), 6u);
  EXPECT_EQ(Observe(db.get()), before);

  // The same idempotency key still deduplicates after the replay.
  Result<CommitInfo> again =
      db->Submit(Batch("p", {A("zz", "s", "color", "g1", "1")}, IdempotencyToken{"idem", "h1"}));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->deduplicated);
  EXPECT_EQ(again->lsn, Lsn(1));
  EXPECT_EQ(db->Submit(Batch("p", {A("zz", "s", "c", "g", "1")}, IdempotencyToken{"idem", "h2"}))
                .error()
                .code(),
            Status::Code::kConflict);
  // New writes continue the LSN sequence (two no-ops above consumed 7 and 8).
  EXPECT_EQ(MustSubmit(db.get(), Batch("p", {A("a5", "t", "c", "g", "1")})).lsn, Lsn(9));
  EXPECT_TRUE(db->Close().ok());
}

TEST(RecoveryTest, CrashAfterPartialFlushReplaysOnlyTheRest) {
  TempDir dir;
  const DatabaseOptions o = TestOptions(dir.path());
  auto db = OpenOrDie(o);
  MustSubmit(db.get(), Batch("p", {A("a1", "s", "c", "g", "1")}));
  MustSubmit(db.get(), Batch("p", {A("a2", "s", "c", "g", "2")}));
  ASSERT_TRUE(db->FlushAndPurge());
  MustSubmit(db.get(), Batch("p", {A("a3", "s", "c", "g", "3")}));
  MustSubmit(db.get(), Retract("p", "r1", "a1"));
  const Snapshot before = Observe(db.get());
  Crash(std::move(db));

  ReplayProgress progress;
  ExpectReopensTo(o, before, &progress);
  EXPECT_EQ(progress.start_lsn.load(), 3u);
  EXPECT_EQ(progress.records_replayed.load(), 2u);
}

TEST(RecoveryTest, CleanCloseNeedsNoReplay) {
  TempDir dir;
  const DatabaseOptions o = TestOptions(dir.path());
  auto db = OpenOrDie(o);
  WriteWorkload(db.get());
  const Snapshot before = Observe(db.get());
  ASSERT_TRUE(db->Close().ok());
  db.reset();
  ReplayProgress progress;
  ExpectReopensTo(o, before, &progress);
  EXPECT_EQ(progress.records_replayed.load(), 0u);
}

TEST(RecoveryTest, CheckpointOpensStandaloneAndContinuesLsns) {
  TempDir dir;
  const DatabaseOptions o = TestOptions(dir.path());
  auto db = OpenOrDie(o);
  WriteWorkload(db.get());
  const Snapshot at_checkpoint = Observe(db.get());
  Result<Lsn> lsn = db->CreateCheckpoint(dir.Sub("cp"));
  ASSERT_TRUE(lsn) << lsn.error().ToString();
  EXPECT_EQ(*lsn, Lsn(6));
  EXPECT_FALSE(db->CreateCheckpoint(dir.Sub("cp")));  // must not exist
  MustSubmit(db.get(), Batch("p", {A("after", "s", "c", "g", "1")}));
  ASSERT_TRUE(db->Close().ok());

  // A restore: the checkpoint as DB dir and an empty WAL dir.
  DatabaseOptions restored = o;
  restored.db_dir = dir.Sub("cp");
  restored.wal.dir = dir.Sub("wal-restored");
  auto db2 = OpenOrDie(restored);
  EXPECT_EQ(Observe(db2.get()), at_checkpoint);
  EXPECT_TRUE(db2->GetAssertion("p", "after").error().IsNotFound());
  EXPECT_EQ(MustSubmit(db2.get(), Batch("p", {A("next", "s", "c", "g", "1")})).lsn, Lsn(7));
  Crash(std::move(db2));
  auto db3 = OpenOrDie(restored);
  EXPECT_EQ(db3->applied_lsn(), Lsn(7));
  EXPECT_TRUE(db3->GetAssertion("p", "next"));
  EXPECT_TRUE(db3->Close().ok());
}

TEST(RecoveryTest, MaintenanceFlushesAndPurgesWal) {
  TempDir dir;
  DatabaseOptions o = TestOptions(dir.path());
  o.wal.segment_bytes = 64 << 10;
  o.max_unflushed_wal_bytes = 128 << 10;
  o.keep_wal_segments = 1;
  auto db = OpenOrDie(o);
  const std::string big(2000, 'x');
  for (int i = 0; i < 400; ++i) {
    MustSubmit(db.get(),
               Batch("p", {A("m" + std::to_string(i), "s", "c", "g", "\"" + big + "\"")}));
  }
  // The maintenance thread reacts to the byte budget; wait for it (bounded).
  for (int i = 0; i < 200 && db->stats().flushed_lsn == Lsn(0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GT(db->stats().flushed_lsn, Lsn(0));
  ASSERT_TRUE(db->FlushAndPurge());
  size_t segments = 0;
  for (const auto& e : std::filesystem::directory_iterator(o.wal.dir)) {
    if (e.path().extension() == ".wal") ++segments;
  }
  // ~800 KiB of WAL in 64 KiB segments; all but the active one and one kept
  // sealed segment are covered by the flush (a preallocated next may exist).
  EXPECT_LE(segments, 4u);
  Crash(std::move(db));
  db = OpenOrDie(o);
  EXPECT_EQ(db->applied_lsn(), Lsn(400));
  EXPECT_TRUE(db->GetAssertion("p", "m0"));
  EXPECT_TRUE(db->GetAssertion("p", "m399"));
  EXPECT_TRUE(db->Close().ok());
}

TEST(RecoveryTest, SecondOpenOfSameDirectoryFails) {
  TempDir dir;
  const DatabaseOptions o = TestOptions(dir.path());
  auto db = OpenOrDie(o);
  Result<std::unique_ptr<Database>> second = Database::Open(o, nullptr);
  EXPECT_FALSE(second);
  EXPECT_TRUE(db->Close().ok());
}

// Records every directory sync, to see which entries the store makes durable.
class DirSyncLog : public EnvWrapper {
 public:
  DirSyncLog() : EnvWrapper(Env::Default()) {}
  Status SyncDir(const std::string& d) override {
    std::lock_guard<std::mutex> l(mu_);
    synced_.push_back(d);
    return EnvWrapper::SyncDir(d);
  }
  bool Synced(const std::string& d) {
    std::lock_guard<std::mutex> l(mu_);
    return std::find(synced_.begin(), synced_.end(), d) != synced_.end();
  }

 private:
  std::mutex mu_;
  std::vector<std::string> synced_;
};

// The RocksDB directory (on its own volume here) and a checkpoint are
// created through wal.env with their entries synced: RocksDB syncs what it
// writes inside them, never their names in the parent.
TEST(RecoveryTest, StoreAndCheckpointDirectoryEntriesAreSynced) {
  TempDir tmp;
  DirSyncLog env;
  DatabaseOptions o = TestOptions(tmp.Sub("store"));
  o.db_dir = tmp.Sub("rocks/db");
  o.wal.env = &env;
  std::unique_ptr<Database> db = OpenOrDie(o);
  ASSERT_NE(db, nullptr);
  EXPECT_TRUE(env.Synced(tmp.Sub("rocks")));  // db's entry
  EXPECT_TRUE(env.Synced(tmp.path()));        // rocks' entry
  MustSubmit(db.get(), Batch("p", {A("a1", "s", "color", "g1", "\"red\"")}));
  ASSERT_TRUE(env.CreateDirs(tmp.Sub("scratch")).ok());
  ASSERT_TRUE(db->CreateCheckpoint(tmp.Sub("scratch/cp")));
  EXPECT_TRUE(env.Synced(tmp.Sub("scratch")));  // cp's entry
  ASSERT_TRUE(db->Close().ok());
}

}  // namespace
}  // namespace stemedb::engine
