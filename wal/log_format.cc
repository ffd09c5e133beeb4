#include "wal/log_format.h"

#include <cstdio>

#include "util/hex.h"

namespace stemedb::wal {

std::string SegmentFileName(uint64_t first_lsn) {
  char buf[kSegmentNameDigits + 1];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(first_lsn));
  std::string name(buf, kSegmentNameDigits);
  name.append(kSegmentSuffix);
  return name;
}

bool ParseSegmentFileName(std::string_view name, uint64_t* first_lsn) {
  if (name.size() != kSegmentNameDigits + kSegmentSuffix.size()) return false;
  if (name.substr(kSegmentNameDigits) != kSegmentSuffix) return false;
  // Upper case is not ours: names are canonical.
  return ParseHex64(name.substr(0, kSegmentNameDigits), first_lsn);
}

}  // namespace stemedb::wal
