// RFC 3339 timestamps (docs/api.md `observed_at`, `as_of`, `recorded_at`).
//
// Parsing accepts the full RFC 3339 `date-time` production: a 'T' (or 't',
// or one space, as RFC 3339 §5.6 NOTE permits) between date and time, any
// number of fractional-second digits (truncated to microseconds, the
// server's resolution), and 'Z'/'z' or a numeric offset "+HH:MM"/"-HH:MM".
// A leap second (":60") is accepted and counted as the next second, since
// the server's clock (Unix time) has no leap seconds either.
//
// Formatting always produces UTC with exactly six fractional digits,
// "2026-11-22T15:38:22.123456Z", so stored times sort as strings and
// round-trip through ParseRfc3339 exactly.
//
// Thread-safe; no allocation except the returned string; pure but for
// UnixMicrosNow.
// One implementation for the whole server: api/ (replies, as_of), engine/
// (stored recorded_at) and auth/ (key and audit times) all format here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stemedb {

// Microseconds since the Unix epoch (UTC) of `text`, or nullopt if `text` is
// not an RFC 3339 date-time (wrong shape, month 13, Feb 30, hour 24,
// offset beyond ±23:59, year outside 0000..9999 after applying the offset).
std::optional<int64_t> ParseRfc3339(std::string_view text);

// The wall clock (system_clock) in microseconds since the Unix epoch: the
// unit of every stored and formatted time.
int64_t UnixMicrosNow();

// "YYYY-MM-DDTHH:MM:SS.ffffffZ" for `us` microseconds since the epoch.
// REQUIRES: the instant lies in years 0000..9999.
std::string FormatRfc3339(int64_t us);
// The same appended to *out (no temporary; on the write path), with
// `fraction_digits` (0..6, truncated) after the seconds: 6 for stored and
// replied times, 3 for log lines.
void AppendRfc3339(std::string* out, int64_t us, int fraction_digits = 6);

}  // namespace stemedb
