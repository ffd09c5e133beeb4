// SetThreadName: names the calling thread in the kernel (`top -H`,
// /proc/<pid>/task/<tid>/comm, perf, gdb), so an operator can see which of
// the server's threads uses the CPU and bench/cpu_per_request can split the
// server's CPU by thread. Names are "stemedb-" plus a role; RocksDB names its
// own background threads ("rocksdb:low", "rocksdb:high").
#pragma once

#include <string_view>

namespace stemedb {

// Linux keeps at most 15 bytes of a name; longer names are cut there.
// Best effort: a failure changes nothing else.
void SetThreadName(std::string_view name);

}  // namespace stemedb
