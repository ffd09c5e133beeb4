#include "wal/log_format.h"

#include <cstdio>

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
  uint64_t v = 0;
  for (size_t i = 0; i < kSegmentNameDigits; i++) {
    char c = name[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;  // upper case is not ours: names are canonical
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *first_lsn = v;
  return true;
}

}  // namespace stemedb::wal
