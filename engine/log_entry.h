// LogEntry codec: the payload of one WAL record (engine/FORMAT.md §1).
//
// A WAL record carries one LogEntry plus the wall-clock time it was submitted,
// so that replay after a crash re-applies exactly what was acknowledged
// (recorded_at included) without consulting the clock again.
//
// Encoding: a version byte (kLogEntryVersion), a kind byte, recorded_at_us,
// then the kind's fields; strings are varint-length-prefixed. Decoding is
// strict: an unknown version, kind, table or flag bit, a length past the end,
// a non-finite confidence or trailing bytes are Status::Corruption. The decoder
// never reads out of bounds and never allocates more than the input size
// (it is a fuzz target).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/types.h"
#include "util/status.h"

namespace stemedb::engine {

inline constexpr uint8_t kLogEntryVersion = 1;

// What the WAL stores for one SubmitAsync.
struct WalEntry {
  int64_t recorded_at_us = 0;  // wall clock at submit (clamped monotonic at apply)
  LogEntry entry;
};

// Appends the encoding of `e` to *dst.
void EncodeWalEntry(const WalEntry& e, std::string* dst);
std::string EncodeWalEntry(const WalEntry& e);

// Parses one payload. Errors: Corruption (malformed, see above).
Result<WalEntry> DecodeWalEntry(std::string_view payload);

}  // namespace stemedb::engine
