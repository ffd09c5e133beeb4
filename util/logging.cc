#include "util/logging.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "util/json_string.h"
#include "util/thread_name.h"
#include "util/time_format.h"

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

// Text mode quotes a value only when it would otherwise be ambiguous.
void AppendTextValue(std::string* out, std::string_view s) {
  bool plain = !s.empty();
  for (char c : s) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) plain = false;
  }
  if (plain) {
    out->append(s);
  } else {
    AppendJsonString(out, s);
  }
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

// Formats one line into *line (cleared first). Appends only: no temporary
// strings, so the per-request log line costs no allocation once the
// caller's buffer has grown.
void FormatLine(std::string* line, Level level, std::string_view msg,
                std::initializer_list<Field> fields) {
  line->clear();
  if (g_format.load(std::memory_order_relaxed) == static_cast<int>(Format::kJson)) {
    line->append("{\"ts\":\"");
    AppendRfc3339(line, UnixMicrosNow(), 3);
    line->append("\",\"level\":\"");
    line->append(LevelName(level, true));
    line->append("\",\"msg\":");
    AppendJsonString(line, msg);
    for (const auto& [k, v] : fields) {
      line->push_back(',');
      AppendJsonString(line, k);
      line->push_back(':');
      AppendJsonString(line, v);
    }
    line->append("}\n");
  } else {
    AppendRfc3339(line, UnixMicrosNow(), 3);
    line->push_back(' ');
    line->append(LevelName(level, false));
    line->push_back(' ');
    line->append(msg);
    for (const auto& [k, v] : fields) {
      line->push_back(' ');
      line->append(k);
      line->push_back('=');
      AppendTextValue(line, v);
    }
    line->push_back('\n');
  }
}

// The calling thread's line buffer (its capacity is kept between lines).
std::string& ThreadLine() {
  thread_local std::string line;
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
// buffered line) writes every kFlushInterval; a full buffer and every
// immediate line (to keep the order) flush at once. exit() stops and joins
// the flusher, then flushes; lines buffered after that are written at once.
// Never destroyed: threads may still log while static destructors run.
class LineBuffer {
 public:
  static constexpr auto kFlushInterval = std::chrono::milliseconds(100);
  static constexpr size_t kFlushBytes = 64 << 10;

  static LineBuffer& Get() {
    static LineBuffer* buffer = [] {
      auto* b = new LineBuffer();
      std::atexit([] { Get().StopFlusher(); });
      return b;
    }();
    return *buffer;
  }

  void Append(std::string_view line) {
    bool flush_now = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!flusher_.joinable() && !stopped_) {
        flusher_ = std::thread([this] {
          SetThreadName("stemedb-log");
          Run();
        });
      }
      pending_ += line;
      flush_now = pending_.size() >= kFlushBytes || stopped_;
    }
    if (flush_now) Flush();
  }

  // Writes what is buffered, then `line` (if any), with nothing in between.
  void Flush(std::string_view line = {}) {
    std::lock_guard<std::mutex> write_lock(write_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch_.swap(pending_);
      // Keep the buffer's capacity for the next lines (the swapped-in one
      // was written and cleared by the previous flush).
      if (pending_.capacity() < kFlushBytes) pending_.reserve(kFlushBytes + 4096);
    }
    WriteAll(batch_);
    batch_.clear();
    WriteAll(line);
  }

 private:
  LineBuffer() = default;

  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopped_) {
      stop_cv_.wait_for(lock, kFlushInterval, [this] { return stopped_; });
      lock.unlock();
      Flush();
      lock.lock();
    }
  }

  void StopFlusher() {
    std::thread flusher;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
      flusher = std::move(flusher_);
    }
    stop_cv_.notify_all();
    if (flusher.joinable()) flusher.join();
    Flush();
  }

  std::mutex write_mu_;  // held across the write(2)s of one flush
  std::mutex mu_;        // guards pending_, flusher_ and stopped_
  std::condition_variable stop_cv_;
  std::string pending_;
  std::string batch_;  // guarded by write_mu_
  std::thread flusher_;
  bool stopped_ = false;
};

}  // namespace

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  std::string& line = ThreadLine();
  FormatLine(&line, level, msg, fields);
  LineBuffer::Get().Flush(line);
}

void Buffered(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  std::string& line = ThreadLine();
  FormatLine(&line, level, msg, fields);
  LineBuffer::Get().Append(line);
}

void Flush() { LineBuffer::Get().Flush(); }

}  // namespace stemedb::log
