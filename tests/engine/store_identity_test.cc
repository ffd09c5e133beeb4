// StoreIdentity (engine/store_identity.h, engine/FORMAT.md §6) over real
// directories, a real WAL and a real RocksDB: every decision of the start-up
// table, and that a refusal writes nothing.
#include "engine/store_identity.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "engine/keys.h"
#include "tests/engine/engine_test_util.h"
#include "tests/util/dir_listing.h"

namespace stemedb::engine {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using Action = IdentityPlan::Action;

StoreLayout Layout(const std::string& root) { return {root, root + "/wal", root + "/db"}; }

// Every path below `dir` with its size (directories as -1).
std::map<std::string, intmax_t> Listing(const std::string& dir) {
  return stemedb::testing::TreeListing({dir});
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The server's sequence: decide, WAL marker, open with the plan, root marker.
Result<std::unique_ptr<Database>> OpenStore(const StoreLayout& layout, IdentityOverrides ov = {},
                                            IdentityPlan* out_plan = nullptr) {
  StoreIdentity identity(Env::Default(), layout, ov);
  auto plan = identity.Decide();
  if (!plan) return plan.error();
  STEMEDB_RETURN_IF_ERROR(identity.PrepareForOpen(*plan));
  DatabaseOptions o = testing::TestOptions(layout.data_dir);
  o.db_dir = layout.db_dir;
  o.wal.dir = layout.wal_dir;
  StoreIdentity::ApplyTo(*plan, &o);
  auto db = Database::Open(o, nullptr);
  if (!db) return db.error();
  STEMEDB_RETURN_IF_ERROR(identity.WriteRootMarker(*plan));
  if (out_plan) *out_plan = *plan;
  return db;
}

Result<IdentityPlan> Decide(const StoreLayout& layout, IdentityOverrides ov = {}) {
  return StoreIdentity(Env::Default(), layout, ov).Decide();
}

// A store with one assertion; returns its id.
std::string MakeStore(const StoreLayout& layout) {
  IdentityPlan plan;
  auto db = OpenStore(layout, {}, &plan);
  EXPECT_TRUE(db) << db.error().ToString();
  if (!db) return "";
  testing::MustSubmit(db->get(), testing::Batch("p", {testing::A("id1", "s", "p", "a", "1")}));
  EXPECT_TRUE((*db)->Close().ok());
  return plan.store_id;
}

// Expects a refusal naming `needle` that leaves `root` untouched.
void ExpectRefusal(const StoreLayout& layout, IdentityOverrides ov, const std::string& needle) {
  const auto before = Listing(layout.data_dir);
  auto plan = Decide(layout, ov);
  ASSERT_FALSE(plan) << "expected a refusal naming " << needle;
  EXPECT_NE(plan.error().message().find(needle), std::string::npos) << plan.error().message();
  EXPECT_EQ(plan.error().message().find('\n'), std::string::npos) << "one line";
  EXPECT_EQ(Listing(layout.data_dir), before) << "Decide wrote something";
}

// The plan used exactly one override, the one named `variable`.
void ExpectOneOverride(const IdentityPlan& plan, const std::string& variable) {
  EXPECT_EQ(plan.overrides.size(), 1u);
  for (const auto& used : plan.overrides) {
    EXPECT_NE(used.find(variable), std::string::npos) << used;
  }
}

// Opens `layout` under `ov`, expecting it to open by using exactly the
// override named `variable`. Null (and a failure) if it does not open.
std::unique_ptr<Database> OpenOverridden(const StoreLayout& layout, IdentityOverrides ov,
                                         const std::string& variable, IdentityPlan* plan) {
  auto db = OpenStore(layout, ov, plan);
  EXPECT_TRUE(db) << db.error().ToString();
  if (!db) return nullptr;
  ExpectOneOverride(*plan, variable);
  return std::move(*db);
}

TEST(StoreMarkerTest, RoundTripsAndRejectsMalformed) {
  StoreMarker m{NewStoreId(), kFormatVersion, Lsn(42)};
  ASSERT_TRUE(IsWellFormedStoreId(m.store_id)) << m.store_id;
  EXPECT_NE(m.store_id, NewStoreId());
  auto back = DecodeStoreMarker(EncodeStoreMarker(m, true), true);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->store_id, m.store_id);
  EXPECT_EQ(back->format_version, kFormatVersion);
  EXPECT_EQ(back->wal_start_lsn, Lsn(42));
  auto root = DecodeStoreMarker(EncodeStoreMarker(m, false), false);
  ASSERT_TRUE(root);
  EXPECT_EQ(root->wal_start_lsn, Lsn(0));
  // A root marker is not a WAL marker (no start LSN).
  EXPECT_FALSE(DecodeStoreMarker(EncodeStoreMarker(m, false), true));
  // Unknown keys are ignored (a later version may add some).
  EXPECT_TRUE(DecodeStoreMarker(EncodeStoreMarker(m, true) + "future=1\n", true));
  for (const std::string& bad : std::vector<std::string>{
           std::string(), std::string("stemedb-store\n"), "not-a-marker\nstore_id=" + m.store_id,
           std::string("stemedb-store\nstore_id=XYZ\nformat_version=1\nwal_start_lsn=1\n"),
           "stemedb-store\nstore_id=" + m.store_id + "\nformat_version=x\nwal_start_lsn=1\n",
           "stemedb-store\nstore_id=" + m.store_id + "\nformat_version=1\nwal_start_lsn=0\n",
           "stemedb-store\nstore_id=" + m.store_id + "\nformat_version=1\nno equals sign\n"}) {
    EXPECT_FALSE(DecodeStoreMarker(bad, true)) << bad;
  }
}

TEST(StoreIdentityTest, FreshPlaceInitialisesOnceAndReopens) {
  TempDir t;
  const StoreLayout l = Layout(t.path());
  auto first = Decide(l);
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(first->action, Action::kInitialise);
  EXPECT_TRUE(first->create_db);
  EXPECT_TRUE(first->overrides.empty());
  const std::string id = MakeStore(l);
  ASSERT_TRUE(IsWellFormedStoreId(id));
  EXPECT_NE(ReadFile(l.wal_dir + "/STORE").find("store_id=" + id), std::string::npos);
  EXPECT_NE(ReadFile(l.wal_dir + "/STORE").find("wal_start_lsn=1"), std::string::npos);
  EXPECT_NE(ReadFile(l.data_dir + "/STORE").find("store_id=" + id), std::string::npos);

  auto again = Decide(l);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->action, Action::kOpen);
  EXPECT_EQ(again->store_id, id);
  EXPECT_FALSE(again->create_db);
  EXPECT_FALSE(again->write_wal_marker);
  EXPECT_FALSE(again->write_root_marker);
}

TEST(StoreIdentityTest, StoreWithoutIdentityIsAdopted) {
  TempDir t;
  const StoreLayout l = Layout(t.path());
  {
    // As every store was made before identities: no store_id, no markers.
    auto db = testing::OpenOrDie(testing::TestOptions(t.path()));
    testing::MustSubmit(db.get(), testing::Batch("p", {testing::A("id1", "s", "p", "a", "1")}));
    ASSERT_TRUE(db->Close().ok());
  }
  IdentityPlan plan;
  auto db = OpenStore(l, {}, &plan);
  ASSERT_TRUE(db) << db.error().ToString();
  EXPECT_EQ(plan.action, Action::kAdopt);
  EXPECT_TRUE(plan.overrides.empty());
  EXPECT_TRUE((*db)->GetAssertion("p", "id1"));
  ASSERT_TRUE((*db)->Close().ok());
  auto again = Decide(l);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->action, Action::kOpen);
  EXPECT_EQ(again->store_id, plan.store_id);
}

TEST(StoreIdentityTest, FilesWithoutCurrentAreRefusedUnlessOverridden) {
  TempDir t;
  const StoreLayout l = Layout(t.path());
  const std::string id = MakeStore(l);
  // An interrupted restore: the SSTs are there, CURRENT and MANIFEST not.
  for (const auto& e : fs::directory_iterator(l.db_dir)) {
    const std::string name = e.path().filename().string();
    if (name == "CURRENT" || name.starts_with("MANIFEST-")) fs::remove(e.path());
  }
  ExpectRefusal(l, {}, "STEMEDB_ACCEPT_NEW_STORE");
  ExpectRefusal(l, {}, "no CURRENT");
  // The engine refuses on its own too, whoever opens it.
  DatabaseOptions o = testing::TestOptions(t.path());
  auto direct = Database::Open(o, nullptr);
  ASSERT_FALSE(direct);
  EXPECT_NE(direct.error().message().find("no RocksDB store"), std::string::npos);

  // With the override the store is rebuilt from the WAL (which starts at 1).
  IdentityOverrides ov;
  ov.accept_new_store = true;
  IdentityPlan plan;
  auto db = OpenOverridden(l, ov, "STEMEDB_ACCEPT_NEW_STORE", &plan);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(plan.action, Action::kRebuild);
  EXPECT_EQ(plan.store_id, id);
  EXPECT_TRUE(db->GetAssertion("p", "id1"));
  // The files are kept, out of RocksDB's way.
  ASSERT_FALSE(plan.set_aside_dir.empty());
  EXPECT_TRUE(fs::is_directory(plan.set_aside_dir));
  EXPECT_FALSE(fs::is_empty(plan.set_aside_dir));
}

TEST(StoreIdentityTest, WalOfAnotherStoreIsRefusedUnlessOverridden) {
  TempDir a, b;
  const std::string id_a = MakeStore(Layout(a.path()));
  const std::string id_b = MakeStore(Layout(b.path()));
  // A's data root and WAL with B's DB.
  StoreLayout mixed{a.path(), a.path() + "/wal", b.path() + "/db"};
  ExpectRefusal(mixed, {}, "STEMEDB_ACCEPT_STORE_MISMATCH");
  ExpectRefusal(mixed, {}, id_a);
  ExpectRefusal(mixed, {}, id_b);
  // B's data root and DB with A's WAL.
  StoreLayout wal_swapped{b.path(), a.path() + "/wal", b.path() + "/db"};
  ExpectRefusal(wal_swapped, {}, "belongs to store " + id_a);

  IdentityOverrides ov;
  ov.accept_store_mismatch = true;
  auto plan = Decide(wal_swapped, ov);
  ASSERT_TRUE(plan) << plan.error().ToString();
  EXPECT_EQ(plan->store_id, id_b);  // the DB's identity wins
  EXPECT_TRUE(plan->write_wal_marker);
  EXPECT_EQ(plan->wal_marker.store_id, id_b);
  ExpectOneOverride(*plan, "STEMEDB_ACCEPT_STORE_MISMATCH");
}

TEST(StoreIdentityTest, EmptyWalDirNextToDbIsRefusedUnlessOverridden) {
  TempDir t;
  const StoreLayout l = Layout(t.path());
  const std::string id = MakeStore(l);
  fs::remove_all(l.wal_dir);
  fs::create_directory(l.wal_dir);
  ExpectRefusal(l, {}, "STEMEDB_ACCEPT_WAL_LOSS");
  ExpectRefusal(l, {}, "STEMEDB_WAL_DIR '" + l.wal_dir + "' is empty");
  fs::remove_all(l.wal_dir);  // a missing dir is the same
  ExpectRefusal(l, {}, "STEMEDB_ACCEPT_WAL_LOSS");

  IdentityOverrides ov;
  ov.accept_wal_loss = true;
  IdentityPlan plan;
  auto db = OpenOverridden(l, ov, "STEMEDB_ACCEPT_WAL_LOSS", &plan);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(plan.store_id, id);
  EXPECT_EQ(plan.wal_marker.wal_start_lsn, db->applied_lsn().next());
  EXPECT_TRUE(db->GetAssertion("p", "id1"));  // flushed at Close: not lost
  ASSERT_TRUE(db->Close().ok());
  auto again = Decide(l);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->action, Action::kOpen);
}

TEST(StoreIdentityTest, MarkerWithoutSegmentsIsRefused) {
  TempDir t;
  const StoreLayout l = Layout(t.path());
  MakeStore(l);
  for (const auto& e : fs::directory_iterator(l.wal_dir)) {
    if (e.path().extension() == ".wal") fs::remove(e.path());
  }
  ExpectRefusal(l, {}, "holds no WAL segment");
}

TEST(StoreIdentityTest, DataRootThatLostItsStoreIsRefusedUnlessOverridden) {
  TempDir t;
  const StoreLayout l = Layout(t.path());
  const std::string id = MakeStore(l);
  fs::remove_all(l.wal_dir);
  fs::remove_all(l.db_dir);
  fs::create_directory(l.db_dir);
  fs::create_directory(l.db_dir + "/lost+found");  // a fresh volume's
  ExpectRefusal(l, {}, "belongs to store " + id);
  ExpectRefusal(l, {}, "STEMEDB_ACCEPT_NEW_STORE");

  IdentityOverrides ov;
  ov.accept_new_store = true;
  IdentityPlan plan;
  auto db = OpenOverridden(l, ov, "STEMEDB_ACCEPT_NEW_STORE", &plan);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(plan.action, Action::kInitialise);
  EXPECT_NE(plan.store_id, id);
  EXPECT_NE(ReadFile(l.data_dir + "/STORE").find(plan.store_id), std::string::npos);
}

TEST(StoreIdentityTest, StoreNextToAnEmptyDbDirIsRefusedUnlessOverridden) {
  TempDir t;
  const StoreLayout l = Layout(t.path());
  MakeStore(l);
  // STEMEDB_DB_DIR=$DATA_DIR/db/rocksdb while the store is in $DATA_DIR/db.
  StoreLayout deeper{t.path(), t.path() + "/wal2", t.path() + "/db/rocksdb"};
  ExpectRefusal(deeper, {}, "did you restore into the wrong directory?");
  ExpectRefusal(deeper, {}, "'" + t.path() + "/db' holds a RocksDB store");
  // RocksDB files directly in the data root.
  TempDir u;
  std::ofstream(u.path() + "/CURRENT") << "MANIFEST-000005\n";
  std::ofstream(u.path() + "/000004.sst") << "x";
  ExpectRefusal(Layout(u.path()), {}, "did you restore into the wrong directory?");
  IdentityOverrides ov;
  ov.accept_new_store = true;
  auto plan = Decide(Layout(u.path()), ov);
  ASSERT_TRUE(plan) << plan.error().ToString();
  EXPECT_EQ(plan->action, Action::kInitialise);
  ExpectOneOverride(*plan, "STEMEDB_ACCEPT_NEW_STORE");
}

TEST(StoreIdentityTest, EmptyDbDirIsRebuiltFromAWholeWal) {
  TempDir t;
  const StoreLayout l = Layout(t.path());
  const std::string id = MakeStore(l);
  fs::remove_all(l.db_dir);
  IdentityPlan plan;
  auto db = OpenStore(l, {}, &plan);
  ASSERT_TRUE(db) << db.error().ToString();
  EXPECT_EQ(plan.action, Action::kRebuild);
  EXPECT_EQ(plan.store_id, id);
  EXPECT_TRUE(plan.overrides.empty());
  EXPECT_TRUE((*db)->GetAssertion("p", "id1"));
}

TEST(StoreIdentityTest, EmptyDbDirWithAWalThatStartsLaterIsRefused) {
  TempDir t;
  const StoreLayout l = Layout(t.path());
  fs::create_directories(l.wal_dir);
  std::ofstream(l.wal_dir + "/STORE")
      << EncodeStoreMarker({NewStoreId(), kFormatVersion, Lsn(501)}, true);
  ExpectRefusal(l, {}, "starts at LSN 501");
  IdentityOverrides all{true, true, true};
  EXPECT_FALSE(Decide(l, all)) << "(f) has no override";
}

TEST(StoreIdentityTest, MalformedOrNewerMarkersAreRefused) {
  TempDir t;
  const StoreLayout l = Layout(t.path());
  const std::string id = MakeStore(l);
  const std::string marker = l.wal_dir + "/STORE";
  const std::string good = ReadFile(marker);
  std::ofstream(marker, std::ios::trunc) << "stemedb-store\nstore_id=" << id << "\n";
  ExpectRefusal(l, {}, "is malformed");
  std::ofstream(marker, std::ios::trunc)
      << EncodeStoreMarker({id, kFormatVersion + 1, Lsn(1)}, true);
  ExpectRefusal(l, {}, "written by a newer stemedb");
  std::ofstream(marker, std::ios::trunc) << good;
  EXPECT_TRUE(Decide(l));
}

TEST(StoreIdentityTest, CrashBetweenWalMarkerAndDbIsCompleted) {
  TempDir t;
  const StoreLayout l = Layout(t.path());
  StoreIdentity identity(Env::Default(), l, {});
  auto plan = identity.Decide();
  ASSERT_TRUE(plan);
  ASSERT_TRUE(identity.PrepareForOpen(*plan).ok());
  // ... crash here: no DB, no root marker.
  auto next = Decide(l);
  ASSERT_TRUE(next) << next.error().ToString();
  EXPECT_EQ(next->store_id, plan->store_id);
  EXPECT_TRUE(next->create_db);
  EXPECT_TRUE(next->write_root_marker);
  EXPECT_TRUE(next->overrides.empty());
}

TEST(StoreIdentityTest, RestoredCheckpointOpensAsTheSameStore) {
  TempDir live, restored;
  const StoreLayout l = Layout(live.path());
  IdentityPlan plan;
  auto db = OpenStore(l, {}, &plan);
  ASSERT_TRUE(db) << db.error().ToString();
  testing::MustSubmit(db->get(), testing::Batch("p", {testing::A("id1", "s", "p", "a", "1")}));
  auto lsn = (*db)->CreateCheckpoint(restored.path() + "/db");
  ASSERT_TRUE(lsn) << lsn.error().ToString();
  testing::MustSubmit(db->get(), testing::Batch("p", {testing::A("id2", "s", "p", "a", "2")}));
  ASSERT_TRUE((*db)->Close().ok());

  StoreLayout r = Layout(restored.path());
  // Without the restore's statement, a DB with an id next to an empty WAL
  // dir is (c); with a statement for another snapshot too.
  ExpectRefusal(r, {}, "STEMEDB_ACCEPT_WAL_LOSS");
  r.restored_snapshot_lsn = lsn->next();
  ExpectRefusal(r, {}, "STEMEDB_ACCEPT_WAL_LOSS");
  r.restored_snapshot_lsn = *lsn;
  IdentityPlan rp;
  auto rdb = OpenStore(r, {}, &rp);
  ASSERT_TRUE(rdb) << rdb.error().ToString();
  EXPECT_EQ(rp.store_id, plan.store_id);
  EXPECT_TRUE(rp.overrides.empty());
  EXPECT_TRUE((*rdb)->GetAssertion("p", "id1"));
  EXPECT_FALSE((*rdb)->GetAssertion("p", "id2"));
  auto next = (*rdb)->Submit(testing::Batch("p", {testing::A("id3", "s", "p", "a", "3")}));
  ASSERT_TRUE(next) << next.error().ToString();
  EXPECT_EQ(next->lsn, lsn->next());
  EXPECT_NE(
      ReadFile(r.wal_dir + "/STORE").find("wal_start_lsn=" + std::to_string(lsn->value() + 1)),
      std::string::npos);
  ASSERT_TRUE((*rdb)->Close().ok());
  r.restored_snapshot_lsn.reset();  // the server removes the statement
  auto again = Decide(r);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->action, Action::kOpen);
}

TEST(StoreIdentityTest, DatabaseRefusesAnotherStoresId) {
  TempDir t;
  const std::string id = MakeStore(Layout(t.path()));
  DatabaseOptions o = testing::TestOptions(t.path());
  o.store_id = NewStoreId();
  auto db = Database::Open(o, nullptr);
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message().find("belongs to store " + id), std::string::npos)
      << db.error().message();
  o.store_id = id;
  EXPECT_TRUE(Database::Open(o, nullptr));
  o.create_if_missing = false;
  o.db_dir = t.Sub("nothing");
  EXPECT_FALSE(Database::Open(o, nullptr));
}

}  // namespace
}  // namespace stemedb::engine
