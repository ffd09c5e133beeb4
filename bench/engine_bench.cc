// Engine benchmarks: apply throughput (submit -> WAL -> RocksDB apply), point
// get, subject query of 100 results, beliefs. Real RocksDB and WAL under a
// fresh temp dir per run.
//
//   build/bench/engine_bench --benchmark_min_time=2
//
// Apply/<sync>/threads:N reports items/s = acknowledged single-assertion
// writes per second; sync 0 = SyncPolicy::kNone (engine cost only),
// 1 = kAlways (fdatasync per group commit, what the server does by default).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>

#include "engine/database.h"
#include "engine/db_impl.h"

namespace stemedb::engine {
namespace {

std::string MakeTempDir() {
  char tmpl[] = "/tmp/stemedb-engine-bench-XXXXXX";
  const char* p = mkdtemp(tmpl);
  if (p == nullptr) std::abort();
  return p;
}

std::unique_ptr<Database> OpenAt(const std::string& root, wal::SyncPolicy policy) {
  DatabaseOptions o;
  o.db_dir = root + "/db";
  o.wal.dir = root + "/wal";
  o.wal.sync_policy = policy;
  Result<std::unique_ptr<Database>> db = Database::Open(o, nullptr);
  if (!db) {
    fprintf(stderr, "open: %s\n", db.error().ToString().c_str());
    std::abort();
  }
  return std::move(*db);
}

NewAssertion MakeAssertion(std::string id, std::string subject, std::string predicate,
                           std::string agent, std::string value) {
  NewAssertion a;
  a.id = std::move(id);
  a.subject = std::move(subject);
  a.predicate = std::move(predicate);
  a.agent_id = std::move(agent);
  a.value_json = std::move(value);
  a.confidence = 0.9;
  return a;
}

// --- apply ------------------------------------------------------------------

std::unique_ptr<Database> g_apply_db;
std::string g_apply_dir;
std::atomic<uint64_t> g_next_id{0};

void BM_Apply(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_apply_dir = MakeTempDir();
    g_apply_db = OpenAt(g_apply_dir,
                        state.range(0) == 0 ? wal::SyncPolicy::kNone : wal::SyncPolicy::kAlways);
  }
  const std::string value = R"({"text":"a typical value of some fifty bytes or so..."})";
  for (auto _ : state) {
    const uint64_t n = g_next_id.fetch_add(1);
    Result<CommitInfo> r = g_apply_db->Submit(AssertBatchEntry{
        "bench",
        {MakeAssertion("id" + std::to_string(n), "subject-" + std::to_string(n % 10000),
                       "predicate-" + std::to_string(n % 7), "agent-" + std::to_string(n % 13),
                       value)},
        std::nullopt});
    if (!r) state.SkipWithError(r.error().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    g_apply_db->Close().IgnoreError("benchmark teardown");
    g_apply_db.reset();
    std::filesystem::remove_all(g_apply_dir);
  }
}
BENCHMARK(BM_Apply)->ArgName("sync")->Arg(0)->Arg(1)->Threads(1)->Threads(8)->UseRealTime();

// --- reads --------------------------------------------------------------------

constexpr int kPointRecords = 50000;
constexpr int kQuerySubjects = 50;

// One store shared by the read benchmarks: 50k assertions for point gets,
// plus subjects "q<i>" with 100 predicates x 1 agent (two versions each) and
// subjects "b<i>" with 20 predicates x 5 agents (beliefs, some conflicting).
struct ReadStore {
  std::string dir;
  std::unique_ptr<Database> db;
  ~ReadStore() {
    if (db) db->Close().IgnoreError("benchmark teardown");
    db.reset();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};

Database* ReadDb() {
  static std::once_flag once;
  static ReadStore store;
  std::call_once(once, [] {
    store.dir = MakeTempDir();
    store.db = OpenAt(store.dir, wal::SyncPolicy::kNone);
    Database* db = store.db.get();
    uint64_t id = 0;
    for (int b = 0; b < kPointRecords / 100; ++b) {
      AssertBatchEntry e{"bench", {}, std::nullopt};
      for (int i = 0; i < 100; ++i, ++id) {
        e.assertions.push_back(MakeAssertion("p" + std::to_string(id), "s" + std::to_string(id),
                                             "name", "agent", "\"v\""));
      }
      if (!db->Submit(std::move(e))) std::abort();
    }
    for (int s = 0; s < kQuerySubjects; ++s) {
      for (int version = 0; version < 2; ++version) {
        AssertBatchEntry e{"bench", {}, std::nullopt};
        for (int p = 0; p < 100; ++p) {
          e.assertions.push_back(MakeAssertion("q" + std::to_string(id++), "q" + std::to_string(s),
                                               "pred" + std::to_string(p), "agent",
                                               std::to_string(version)));
        }
        if (!db->Submit(std::move(e))) std::abort();
      }
      AssertBatchEntry e{"bench", {}, std::nullopt};
      for (int p = 0; p < 20; ++p) {
        for (int a = 0; a < 5; ++a) {
          e.assertions.push_back(MakeAssertion(
              "b" + std::to_string(id++), "b" + std::to_string(s), "pred" + std::to_string(p),
              "agent" + std::to_string(a), std::to_string((p + a) % 2 == 0 ? 1 : p % 2)));
        }
      }
      if (!db->Submit(std::move(e))) std::abort();
    }
    if (!db->FlushAndPurge()) std::abort();
  });
  return store.db.get();
}

void BM_PointGet(benchmark::State& state) {
  Database* db = ReadDb();
  std::mt19937 rng(static_cast<unsigned>(state.thread_index() + 1));
  for (auto _ : state) {
    Result<StoredAssertion> a =
        db->GetAssertion("bench", "p" + std::to_string(rng() % kPointRecords));
    if (!a) state.SkipWithError("missing assertion");
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PointGet)->Threads(1)->Threads(2)->UseRealTime();

void BM_QuerySubject100(benchmark::State& state) {
  Database* db = ReadDb();
  std::mt19937 rng(static_cast<unsigned>(state.thread_index() + 1));
  QuerySpec q;
  q.project = "bench";
  q.limit = 100;
  q.history = state.range(0) == 1;
  for (auto _ : state) {
    q.subject = "q" + std::to_string(rng() % kQuerySubjects);
    Result<QueryPage> page = db->Query(q);
    if (!page || page->assertions.size() != 100) state.SkipWithError("bad page");
    benchmark::DoNotOptimize(page);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_QuerySubject100)->ArgName("history")->Arg(0)->Arg(1)->UseRealTime();

void BM_Beliefs(benchmark::State& state) {
  Database* db = ReadDb();
  std::mt19937 rng(1);
  for (auto _ : state) {
    Result<std::vector<PredicateBeliefs>> b = db->Beliefs(
        "bench", "b" + std::to_string(rng() % kQuerySubjects), std::nullopt, std::nullopt);
    if (!b || b->size() != 20) state.SkipWithError("bad beliefs");
    benchmark::DoNotOptimize(b);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Beliefs)->UseRealTime();

// --- replay --------------------------------------------------------------------

// Needs the crash hook of test builds (engine/db_impl.h); a release build
// with benchmarks (bench/compare) leaves it out.
#ifdef STEMEDB_FAILPOINTS
// Restart-to-ready after a crash with range(0) MiB of WAL applied since the
// last flush: the time of Database::Open (RocksDB open, WAL verify, replay).
// MiB/s here scales the bound set by max_unflushed_wal_bytes (256 MiB).
void BM_ReplayAfterCrash(benchmark::State& state) {
  const uint64_t wal_bytes = static_cast<uint64_t>(state.range(0)) << 20;
  const std::string value = "\"" + std::string(200, 'v') + "\"";
  for (auto _ : state) {
    state.PauseTiming();
    const std::string dir = MakeTempDir();
    DatabaseOptions o;
    o.db_dir = dir + "/db";
    o.wal.dir = dir + "/wal";
    o.wal.sync_policy = wal::SyncPolicy::kNone;
    // Nothing may flush before the crash: the whole WAL must be replayed.
    o.max_unflushed_wal_bytes = wal_bytes * 4;
    o.memtable_budget_bytes = wal_bytes * 8;
    uint64_t written = 0;
    uint64_t id = 0;
    {
      Result<std::unique_ptr<Database>> db = Database::Open(o, nullptr);
      if (!db) std::abort();
      while (written < wal_bytes) {
        AssertBatchEntry e{"bench", {}, std::nullopt};
        for (int i = 0; i < 100; ++i, ++id) {
          e.assertions.push_back(MakeAssertion("r" + std::to_string(id),
                                               "subject-" + std::to_string(id % 5000), "pred",
                                               "agent-" + std::to_string(id % 7), value));
        }
        if (!(*db)->Submit(std::move(e))) std::abort();
        written = (*db)->stats().wal.bytes_written;
      }
      dynamic_cast<DbImpl&>(**db).TEST_CrashClose();
    }
    ReplayProgress progress;
    state.ResumeTiming();
    Result<std::unique_ptr<Database>> db = Database::Open(o, &progress);
    state.PauseTiming();
    if (!db) std::abort();
    state.counters["records"] = static_cast<double>(progress.records_replayed.load());
    state.counters["assertions"] = static_cast<double>(id);
    state.SetBytesProcessed(static_cast<int64_t>(written));
    (*db)->Close().IgnoreError("benchmark teardown");
    db->reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_ReplayAfterCrash)
    ->Arg(64)
    ->Arg(256)
    ->Arg(1024)
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();
#endif  // STEMEDB_FAILPOINTS

}  // namespace
}  // namespace stemedb::engine

BENCHMARK_MAIN();
