#include "api/request_log.h"

#include <algorithm>
#include <charconv>

#include "util/logging.h"

namespace stemedb::api {

void LogRequest(const CompletedRequest& r) {
  log::Level level = r.status >= 500 ? log::Level::kWarn : log::Level::kInfo;
  if (!log::Enabled(level)) return;
  // Milliseconds with three decimals ("1.234"), from whole microseconds.
  const int64_t us = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(r.duration).count());
  char ms[32];
  char* end = std::to_chars(ms, ms + sizeof ms - 4, us / 1000).ptr;
  *end++ = '.';
  for (int64_t frac = us % 1000, div = 100; div > 0; div /= 10)
    *end++ = static_cast<char>('0' + frac / div % 10);
  const std::string_view duration(ms, static_cast<size_t>(end - ms));
  static const RequestMeta kNone;
  const RequestMeta& meta = r.meta != nullptr ? *r.meta : kNone;
  // Batched (log::Buffered): one write(2) per request was ~15 % of write
  // throughput. A 5xx is written at once, like every warning.
  auto write = level == log::Level::kInfo ? log::Buffered : log::Write;
  write(level, "request",
        {{"method", r.method},
         {"route", meta.route},
         {"status", std::to_string(r.status)},
         {"duration_ms", duration},
         {"key_id", meta.key_id},
         {"project", meta.project},
         {"bytes_in", std::to_string(r.bytes_in)},
         {"bytes_out", std::to_string(r.bytes_out)}});
}

}  // namespace stemedb::api
