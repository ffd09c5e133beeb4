// The WalOptions the wal/ tests start from: 4 KiB segments (so a few
// records already rotate) and no background preallocation (so a test's
// files are only what it wrote). Each suite adjusts what it tests.
#pragma once

#include <string>

#include "util/env.h"
#include "wal/wal.h"

namespace stemedb::testing {

inline wal::WalOptions SmallSegmentOptions(const std::string& dir, Env* env = nullptr) {
  wal::WalOptions o;
  o.dir = dir;
  o.env = env;
  o.segment_bytes = 4096;
  o.preallocate_next_segment = false;
  return o;
}

}  // namespace stemedb::testing
