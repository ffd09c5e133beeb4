// CRC32C (Castagnoli), as used by iSCSI (RFC 3720), ext4 and LevelDB.
//
// Backed by ISA-L's crc32_iscsi (libisal-dev), which picks an SSE4.2/PCLMUL
// implementation at run time. bench/crc32c_bench.cc compares it with
// Boost.CRC and a table implementation; the choice is explained there.
//
// Convention: Value("123456789") == 0xE3069283 (the standard check value);
// Extend(Value(a), b) == Value(a + b).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace stemedb::crc32c {

// CRC32C of data[0,n) continued from `init_crc` (a previous Value/Extend).
uint32_t Extend(uint32_t init_crc, const char* data, size_t n);
inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Value(s.data(), s.size()); }

// Stored CRCs are masked (LevelDB's scheme): computing the CRC of a string
// that itself contains embedded CRCs is otherwise prone to degenerate cases.
constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace stemedb::crc32c
