// WAL append throughput: sync policy x record size x concurrent appenders.
// Each benchmark thread calls the blocking Wal::Append; with UseRealTime,
// items_per_second is records acknowledged per wall-clock second across all
// threads, and records_per_fsync shows how well group commit batches.
// The log lives in $STEMEDB_BENCH_DIR (default /tmp): point it at the disk
// you care about, since fdatasync latency is the whole story under "always".
// Run: build/bench/wal_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "wal/wal.h"

namespace {

using stemedb::Lsn;
using stemedb::wal::SyncPolicy;
using stemedb::wal::Wal;
using stemedb::wal::WalOptions;

std::unique_ptr<Wal> g_wal;
std::string g_dir;
stemedb::wal::WalStats g_start;

void BM_WalAppend(benchmark::State& state) {
  const auto policy = static_cast<SyncPolicy>(state.range(0));
  const size_t record = static_cast<size_t>(state.range(1));
  if (state.thread_index() == 0) {
    const char* base = std::getenv("STEMEDB_BENCH_DIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/stemedb-wal-bench-XXXXXX";
    g_dir = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
    WalOptions o;
    o.dir = g_dir + "/wal";
    o.sync_policy = policy;
    auto r = Wal::Open(o, nullptr);
    if (!r) {
      state.SkipWithError(r.error().ToString().c_str());
    } else {
      g_wal = std::move(*r);
      g_start = g_wal->stats();
    }
  }
  const std::string payload(record, 'w');
  for (auto _ : state) {
    if (!g_wal) break;
    auto r = g_wal->Append(payload);
    if (!r) {
      state.SkipWithError(r.error().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * record));
  if (state.thread_index() == 0 && g_wal) {
    auto end = g_wal->stats();
    double records = static_cast<double>(end.last_lsn.value() - g_start.last_lsn.value());
    double fsyncs = static_cast<double>(end.fsyncs - g_start.fsyncs);
    double groups = static_cast<double>(end.groups - g_start.groups);
    state.counters["records_per_fsync"] = fsyncs > 0 ? records / fsyncs : 0;
    state.counters["records_per_group"] = groups > 0 ? records / groups : 0;
    g_wal->Close().IgnoreError("benchmark teardown");
    g_wal.reset();
    std::error_code ec;
    std::filesystem::remove_all(g_dir, ec);
  }
}

void Args(benchmark::internal::Benchmark* b) {
  for (int policy : {static_cast<int>(SyncPolicy::kAlways), static_cast<int>(SyncPolicy::kInterval),
                     static_cast<int>(SyncPolicy::kNone)}) {
    for (int size : {256, 1024, 4096}) b->Args({policy, size});
  }
  b->ArgNames({"policy", "bytes"});
}

BENCHMARK(BM_WalAppend)->Apply(Args)->Threads(1)->Threads(16)->Threads(64)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
