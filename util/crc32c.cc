#include "util/crc32c.h"

#include <isa-l/crc.h>

#include <climits>

namespace stemedb::crc32c {

uint32_t Extend(uint32_t init_crc, const char* data, size_t n) {
  // ISA-L's crc32_iscsi neither pre- nor post-inverts; the standard CRC32C
  // does both, so invert on the way in and out. Pinned by the RFC 3720
  // vectors in tests/util/crc32c_test.cc. ISA-L takes an int length: chunk.
  uint32_t crc = ~init_crc;
  auto* p = reinterpret_cast<unsigned char*>(const_cast<char*>(data));
  while (n > 0) {
    int chunk = n > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(n);
    crc = crc32_iscsi(p, chunk, crc);
    p += chunk;
    n -= static_cast<size_t>(chunk);
  }
  return ~crc;
}

}  // namespace stemedb::crc32c
