// CRC32C candidates for the WAL record checksum (STYLE "Hand-written CRC"):
//   Isal   util/crc32c.h, i.e. ISA-L crc32_iscsi (run-time dispatched
//          SSE4.2/PCLMUL folding) with the standard pre/post inversion;
//   Boost  boost::crc_optimal with the Castagnoli parameters (table driven,
//          header only);
//   Table  a byte-at-a-time table, the textbook baseline (this file only).
// All three are checked against the RFC 3720 check value before timing.
// Run: build/bench/crc32c_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <array>
#include <boost/crc.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "util/crc32c.h"

namespace {

using BoostCrc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

// Reflected table for polynomial 0x82F63B78 (0x1EDC6F41 bit-reversed).
constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = MakeTable();

uint32_t TableCrc32c(const char* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) c = kTable[(c ^ static_cast<uint8_t>(p[i])) & 0xff] ^ (c >> 8);
  return ~c;
}

uint32_t BoostValue(const char* p, size_t n) {
  BoostCrc32c crc;
  crc.process_bytes(p, n);
  return crc.checksum();
}

std::string Buffer(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>(i * 131 + 7);
  return s;
}

// Refuse to time an implementation that computes something else.
const bool kChecked = [] {
  const char* check = "123456789";
  if (stemedb::crc32c::Value(check, 9) != 0xE3069283u || BoostValue(check, 9) != 0xE3069283u ||
      TableCrc32c(check, 9) != 0xE3069283u) {
    std::fprintf(stderr, "crc32c_bench: an implementation fails the RFC 3720 check value\n");
    std::abort();
  }
  return true;
}();

template <uint32_t (*Fn)(const char*, size_t)>
void BM_Crc(benchmark::State& state) {
  const std::string buf = Buffer(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(Fn(buf.data(), buf.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

uint32_t IsalValue(const char* p, size_t n) { return stemedb::crc32c::Value(p, n); }

BENCHMARK_TEMPLATE(BM_Crc, IsalValue)->Name("Crc32c/Isal")->RangeMultiplier(4)->Range(64, 64 << 10);
BENCHMARK_TEMPLATE(BM_Crc, BoostValue)
    ->Name("Crc32c/Boost")
    ->RangeMultiplier(4)
    ->Range(64, 64 << 10);
BENCHMARK_TEMPLATE(BM_Crc, TableCrc32c)
    ->Name("Crc32c/Table")
    ->RangeMultiplier(4)
    ->Range(64, 64 << 10);

}  // namespace

BENCHMARK_MAIN();
