// Fuzz target: the engine's WAL payload codec (engine/FORMAT.md §1), which
// replay trusts after the record CRC matched. Invariants: decoding never
// crashes; whatever decodes re-encodes to exactly the input bytes (the
// encoding is canonical, so a replayed record means one thing only).
#include <string>

#include "engine/log_entry.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto decoded = stemedb::engine::DecodeWalEntry(in);
  if (!decoded) {
    FUZZ_CHECK(!decoded.error().ok());
    return 0;
  }
  std::string again = stemedb::engine::EncodeWalEntry(*decoded);
  FUZZ_CHECK(again == in);
  return 0;
}
