// Process-wide structured logging to stderr.
//
// One event per line: text "2026-11-22T15:38:22.123Z INFO msg k=v k2=v2" or,
// with Configure(kJson), {"ts":"...","level":"info","msg":"...","k":"v"}.
// Never pass a secret (API key, request body) as a field: there is no
// redaction layer behind this, by design the callers must not hand one in.
// Thread-safe: lines never interleave. Write() puts its line on stderr before
// it returns; Buffered() is for high-volume lines (the per-request log),
// where a write(2) per line cost ~15 % of write throughput: its lines are
// written in batches at most ~100 ms later, at the next Write(), at Flush()
// or at exit(), so a crash (kill -9) can lose the last ~100 ms of them.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace stemedb::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kText, kJson };

// A view, so that formatting a line allocates nothing: a field's value may be
// a temporary (`{"n", std::to_string(n)}`), which lives until the end of the
// call's full expression, i.e. until the line is formatted.
using Field = std::pair<std::string_view, std::string_view>;

// Call once at startup, before other threads log. Defaults: kText, kInfo.
void Configure(Format format, Level min_level);
// Parses "debug"|"info"|"warn"|"error"; false if unknown.
bool ParseLevel(std::string_view text, Level* out);
bool Enabled(Level level);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
void Buffered(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
// Writes every buffered line now (graceful shutdown calls it).
void Flush();

inline void Debug(std::string_view msg, std::initializer_list<Field> f = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, msg, f);
}
inline void Info(std::string_view msg, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, msg, f);
}
inline void Warn(std::string_view msg, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, msg, f);
}
inline void Error(std::string_view msg, std::initializer_list<Field> f = {}) {
  Write(Level::kError, msg, f);
}

}  // namespace stemedb::log
