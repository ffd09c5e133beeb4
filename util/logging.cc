#include "util/logging.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace stemedb::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_format{static_cast<int>(Format::kText)};

const char* LevelName(Level level, bool lower) {
  switch (level) {
    case Level::kDebug: return lower ? "debug" : "DEBUG";
    case Level::kInfo: return lower ? "info" : "INFO";
    case Level::kWarn: return lower ? "warn" : "WARN";
    case Level::kError: return lower ? "error" : "ERROR";
  }
  return "?";
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms.count()) % 1000);
  return buf;
}

std::string JsonQuote(std::string_view s) {
  return boost::json::serialize(boost::json::string(s));
}

// Text mode quotes a value only when it would otherwise be ambiguous.
std::string TextValue(std::string_view s) {
  bool plain = !s.empty();
  for (char c : s) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) plain = false;
  }
  return plain ? std::string(s) : JsonQuote(s);
}

}  // namespace

void Configure(Format format, Level min_level) {
  g_format.store(static_cast<int>(format));
  g_min_level.store(static_cast<int>(min_level));
}

bool ParseLevel(std::string_view text, Level* out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == LevelName(l, true)) {
      *out = l;
      return true;
    }
  }
  return false;
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_min_level.load(); }

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  std::string line;
  line.reserve(128);
  if (g_format.load() == static_cast<int>(Format::kJson)) {
    line += "{\"ts\":\"" + Timestamp() + "\",\"level\":\"" + LevelName(level, true) +
            "\",\"msg\":" + JsonQuote(msg);
    // Appended piece by piece: cheaper, and GCC 12 at -O3 raises a false
    // -Wrestrict (GCC bug 105329) on `"," + std::string`.
    for (const auto& [k, v] : fields) {
      line += ',';
      line += JsonQuote(k);
      line += ':';
      line += JsonQuote(v);
    }
    line += "}\n";
  } else {
    line += Timestamp() + " " + LevelName(level, false) + " " + std::string(msg);
    for (const auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      line += TextValue(v);
    }
    line += "\n";
  }
  // One write(2) per line keeps lines from interleaving across threads.
  ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  (void)n;
}

}  // namespace stemedb::log
