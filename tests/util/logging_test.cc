// log::Write and log::Buffered share one stream: buffered lines are written
// later but never after a later immediate line, and never lost at a flush.
#include "util/logging.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace stemedb::log {
namespace {

// Points fd 2 at a temp file for the life of the object.
class StderrToFile {
 public:
  StderrToFile() {
    char path[] = "/tmp/stemedb-log-XXXXXX";
    const int fd = ::mkstemp(path);
    path_ = path;
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~StderrToFile() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    std::remove(path_.c_str());
  }
  std::string Contents() const {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
  int saved_ = -1;
};

TEST(LoggingTest, BufferedLinesComeBeforeALaterImmediateLine) {
  StderrToFile err;
  Buffered(Level::kInfo, "first-buffered");
  Buffered(Level::kInfo, "second-buffered", {{"k", "v"}});
  Write(Level::kWarn, "third-immediate");
  const std::string out = err.Contents();
  const size_t first = out.find("first-buffered");
  const size_t second = out.find("second-buffered k=v");
  const size_t third = out.find("third-immediate");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(second, std::string::npos) << out;
  ASSERT_NE(third, std::string::npos) << out;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
}

TEST(LoggingTest, FlushWritesBufferedLines) {
  StderrToFile err;
  Buffered(Level::kInfo, "flushed-line");
  Flush();
  EXPECT_NE(err.Contents().find("flushed-line"), std::string::npos);
}

TEST(LoggingTest, BufferedLinesArriveWithoutAnyFurtherCall) {
  StderrToFile err;
  Buffered(Level::kInfo, "lonely-line");
  // The flusher writes every ~100 ms; allow far more on a loaded machine.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (err.Contents().find("lonely-line") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(err.Contents().find("lonely-line"), std::string::npos);
}

TEST(LoggingTest, ManyThreadsNeverInterleaveLines) {
  StderrToFile err;
  constexpr int kThreads = 4;
  constexpr int kLines = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLines; ++i) {
        if (i % 100 == 0) {
          Write(Level::kInfo, "line", {{"t", std::to_string(t)}, {"i", std::to_string(i)}});
        } else {
          Buffered(Level::kInfo, "line", {{"t", std::to_string(t)}, {"i", std::to_string(i)}});
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  Flush();
  std::istringstream lines(err.Contents());
  std::string l;
  int count = 0;
  std::vector<int> next(kThreads, 0);
  while (std::getline(lines, l)) {
    int t = -1, i = -1;
    const size_t pos = l.find(" INFO line t=");
    ASSERT_NE(pos, std::string::npos) << "torn line: " << l;
    ASSERT_EQ(std::sscanf(l.c_str() + pos, " INFO line t=%d i=%d", &t, &i), 2) << l;
    ASSERT_GE(t, 0);
    ASSERT_LT(t, kThreads);
    EXPECT_EQ(i, next[t]) << "lines of one thread out of order";
    next[t] = i + 1;
    ++count;
  }
  EXPECT_EQ(count, kThreads * kLines);
}

}  // namespace
}  // namespace stemedb::log
