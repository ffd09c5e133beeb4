// JSON costs on the request path (api/): what an I/O thread spends per
// assertion before the engine sees it, and per query page after.
//
//   build/bench/json_bench --benchmark_min_time=0.5
//
// BM_DecodeValidateAssertion: parse (Boost.JSON, into a stack-backed
//   monotonic_resource as the router does) + validate every field + RFC 8785
//   canonical value, for a small and a ~4 KiB nested value.
// BM_EncodeQueryPage: the GET /v1/query body for a page of N stored
//   assertions (splicing stored JSON, as the router does).
#include <benchmark/benchmark.h>

#include <boost/json/monotonic_resource.hpp>
#include <string>

#include "api/json_validation.h"
#include "api/router.h"

namespace {

using stemedb::api::ParseJsonObject;
using stemedb::api::ValidateAssertion;

std::string SmallAssertion() {
  return R"({"subject":"sensor-17/room-4","predicate":"temperature_c","value":21.5,)"
         R"("agent_id":"thermo-agent","confidence":0.93,"observed_at":"2026-11-22T15:38:22.5Z"})";
}

std::string NestedAssertion() {
  std::string value = "{";
  for (int i = 0; i < 64; ++i) {
    if (i) value += ",";
    value += "\"k" + std::to_string(63 - i) + "\":{\"n\":" + std::to_string(i * 1.25) +
             ",\"tags\":[\"alpha\",\"beta\",\"gamma\"],\"ok\":true}";
  }
  value += "}";
  return R"({"subject":"doc-1","predicate":"metadata","agent_id":"indexer","value":)" + value + "}";
}

void Run(benchmark::State& state, const std::string& body) {
  for (auto _ : state) {
    unsigned char buf[8192];
    boost::json::monotonic_resource mr(buf, sizeof buf);
    auto obj = ParseJsonObject(body, &mr);
    if (!obj) state.SkipWithError("parse failed");
    auto a = ValidateAssertion(*obj, "");
    if (!a) state.SkipWithError("validation failed");
    benchmark::DoNotOptimize(a->value_json.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_DecodeValidateAssertion_Small(benchmark::State& state) { Run(state, SmallAssertion()); }
BENCHMARK(BM_DecodeValidateAssertion_Small);

void BM_DecodeValidateAssertion_Nested4K(benchmark::State& state) { Run(state, NestedAssertion()); }
BENCHMARK(BM_DecodeValidateAssertion_Nested4K);

void BM_EncodeQueryPage(benchmark::State& state) {
  stemedb::engine::QueryPage page;
  for (int64_t i = 0; i < state.range(0); ++i) {
    stemedb::engine::StoredAssertion a;
    a.id = std::string(32, 'a');
    a.lsn = stemedb::Lsn(static_cast<uint64_t>(i + 1));
    a.json = R"({"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","project":"default","subject":"s",)"
             R"("predicate":"p","value":{"a":1,"b":[1,2,3]},"agent_id":"alice","signed":false,)"
             R"("lsn":)" +
             std::to_string(i + 1) + R"(,"recorded_at":"2026-11-22T15:38:22.123456Z"})";
    page.assertions.push_back(std::move(a));
  }
  page.next_cursor = "AAAABBBBCCCCDDDD";
  page.as_of = stemedb::Lsn(1000);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string out = stemedb::api::EncodeQueryPage(page);
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_EncodeQueryPage)->Arg(100)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
