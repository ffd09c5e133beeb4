#include "util/logging.h"

#include <unistd.h>

#include <atomic>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <thread>

namespace stemedb::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_format{static_cast<int>(Format::kText)};

const char* LevelName(Level level, bool lower) {
  switch (level) {
    case Level::kDebug:
      return lower ? "debug" : "DEBUG";
    case Level::kInfo:
      return lower ? "info" : "INFO";
    case Level::kWarn:
      return lower ? "warn" : "WARN";
    case Level::kError:
      return lower ? "error" : "ERROR";
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

std::string JsonQuote(std::string_view s) { return boost::json::serialize(boost::json::string(s)); }

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

namespace {

std::string FormatLine(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  std::string line;
  line.reserve(160);
  if (g_format.load() == static_cast<int>(Format::kJson)) {
    line += "{\"ts\":\"";
    line += Timestamp();
    line += "\",\"level\":\"";
    line += LevelName(level, true);
    line += "\",\"msg\":";
    line += JsonQuote(msg);
    for (const auto& [k, v] : fields) {
      line += ',';
      line += JsonQuote(k);
      line += ':';
      line += JsonQuote(v);
    }
    line += "}\n";
  } else {
    line += Timestamp();
    line += ' ';
    line += LevelName(level, false);
    line += ' ';
    line += msg;
    for (const auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      line += TextValue(v);
    }
    line += '\n';
  }
  return line;
}

void WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(STDERR_FILENO, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to report a failing stderr
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Lines from Buffered() wait here and reach stderr in batches: one write(2)
// per batch instead of per line. A flusher thread (started by the first
// buffered line) writes every kFlushInterval; a full buffer, every
// immediate line (to keep the order) and exit() flush at once. Never
// destroyed: threads may still log while static destructors run.
class LineBuffer {
 public:
  static constexpr auto kFlushInterval = std::chrono::milliseconds(100);
  static constexpr size_t kFlushBytes = 64 << 10;

  static LineBuffer& Get() {
    static LineBuffer* buffer = [] {
      auto* b = new LineBuffer();
      std::atexit([] { Get().Flush(); });
      return b;
    }();
    return *buffer;
  }

  void Append(std::string_view line) {
    bool full = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!thread_started_) {
        thread_started_ = true;
        std::thread([this] { Run(); }).detach();
      }
      pending_ += line;
      full = pending_.size() >= kFlushBytes;
    }
    if (full) Flush();
  }

  // Writes what is buffered, then `line` (if any), with nothing in between.
  void Flush(std::string_view line = {}) {
    std::lock_guard<std::mutex> write_lock(write_mu_);
    std::string batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(pending_);
    }
    WriteAll(batch);
    WriteAll(line);
  }

 private:
  LineBuffer() = default;

  [[noreturn]] void Run() {
    for (;;) {
      std::this_thread::sleep_for(kFlushInterval);
      Flush();
    }
  }

  std::mutex write_mu_;  // held across the write(2)s of one flush
  std::mutex mu_;        // guards pending_ and thread_started_
  std::string pending_;
  bool thread_started_ = false;
};

}  // namespace

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  LineBuffer::Get().Flush(FormatLine(level, msg, fields));
}

void Buffered(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  LineBuffer::Get().Append(FormatLine(level, msg, fields));
}

void Flush() { LineBuffer::Get().Flush(); }

}  // namespace stemedb::log
