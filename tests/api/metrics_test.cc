#include "api/metrics.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

namespace stemedb::api {
namespace {

bool Has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// Every sample line is `name{labels} value` or `name value`, every other
// line a # comment: what a Prometheus scraper accepts.
void ExpectParses(const std::string& text) {
  static const std::regex kSample(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eEInfa]+$)");
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_TRUE(std::regex_match(line, kSample)) << line;
  }
}

TEST(MetricsTest, EverySpecNameIsPresentOnAFreshRegistry) {
  Metrics m;
  std::string text = m.Render();
  for (const char* name :
       {"stemedb_http_requests_total", "stemedb_http_request_duration_seconds",
        "stemedb_wal_fsync_latency_seconds", "stemedb_wal_bytes_written_total",
        "stemedb_wal_group_commit_records", "stemedb_wal_replay_seconds", "stemedb_applied_lsn",
        "stemedb_assertions_written_total", "stemedb_rate_limited_total", "stemedb_disk_free_bytes",
        "stemedb_build_info", "stemedb_rocksdb_pending_compaction_bytes",
        "stemedb_rocksdb_live_sst_bytes", "stemedb_rocksdb_memtable_bytes",
        "process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total"}) {
    EXPECT_TRUE(Has(text, std::string("# TYPE ") + name + " ")) << name;
  }
  EXPECT_TRUE(Has(text, "stemedb_build_info{version=\"" STEMEDB_VERSION "\"} 1"));
  ExpectParses(text);
}

TEST(MetricsTest, RequestsAreLabelledByRouteTemplate) {
  Metrics m;
  m.ObserveRequest("/v1/assertions/{id}", "GET", 200, std::chrono::milliseconds(3));
  m.ObserveRequest("/v1/assertions/{id}", "GET", 200, std::chrono::milliseconds(4));
  m.ObserveRequest("/v1/assert", "POST", 201, std::chrono::milliseconds(2));
  std::string text = m.Render();
  EXPECT_TRUE(Has(text,
                  "stemedb_http_requests_total{method=\"GET\",route=\"/v1/assertions/{id}\","
                  "status=\"200\"} 2"))
      << text;
  EXPECT_TRUE(Has(text, "stemedb_http_request_duration_seconds_count{route=\"/v1/assert\"} 1"));
  ExpectParses(text);
}

TEST(MetricsTest, FsyncBucketsSpan50MicrosecondsToOneSecond) {
  Metrics m;
  m.wal_probe()->OnFsync(std::chrono::microseconds(30));
  m.wal_probe()->OnFsync(std::chrono::milliseconds(2));
  m.wal_probe()->OnGroupCommit(7, 4096);
  std::string text = m.Render();
  EXPECT_TRUE(Has(text, "stemedb_wal_fsync_latency_seconds_bucket{le=\"5e-05\"} 1")) << text;
  EXPECT_TRUE(Has(text, "stemedb_wal_fsync_latency_seconds_bucket{le=\"1\"} 2"));
  EXPECT_TRUE(Has(text, "stemedb_wal_fsync_latency_seconds_count 2"));
  EXPECT_TRUE(Has(text, "stemedb_wal_group_commit_records_sum 7"));
  EXPECT_TRUE(Has(text, "stemedb_wal_bytes_written_total 4096"));
}

TEST(MetricsTest, ProjectLabelsAreCapped) {
  Metrics m;
  for (size_t i = 0; i < Metrics::kMaxProjectLabels + 50; ++i) {
    m.AddAssertionsWritten("p" + std::to_string(i), 1);
  }
  m.AddRateLimited("p0");
  m.AddRateLimited("late-project");
  std::string text = m.Render();
  std::set<std::string> projects;
  std::regex label("stemedb_assertions_written_total\\{project=\"([^\"]*)\"\\}");
  for (std::sregex_iterator it(text.begin(), text.end(), label), end; it != end; ++it) {
    projects.insert((*it)[1]);
  }
  EXPECT_EQ(projects.size(), Metrics::kMaxProjectLabels + 1);  // + "_other"
  EXPECT_TRUE(Has(text, "stemedb_assertions_written_total{project=\"_other\"} 50"));
  EXPECT_TRUE(Has(text, "stemedb_rate_limited_total{project=\"p0\"} 1"));
  EXPECT_TRUE(Has(text, "stemedb_rate_limited_total{project=\"_other\"} 1"));
}

TEST(MetricsTest, ProcessMetricsComeFromProc) {
  Metrics m;
  std::string text = m.Render();
  std::smatch match;
  std::regex rss("process_resident_memory_bytes ([0-9.e+]+)");
  ASSERT_TRUE(std::regex_search(text, match, rss));
  EXPECT_GT(std::stod(match[1]), 1e5);
  std::regex fds("process_open_fds ([0-9.e+]+)");
  ASSERT_TRUE(std::regex_search(text, match, fds));
  EXPECT_GE(std::stod(match[1]), 3);  // stdin, stdout, stderr
}

TEST(MetricsTest, TransportGauges) {
  Metrics m;
  m.SetConnectionsActive(3);
  m.AddConnectionRejected();
  m.SetReady(true);
  m.SetReplaySeconds(1.5);
  m.SetDiskFree("wal", 42);
  std::string text = m.Render();
  EXPECT_TRUE(Has(text, "stemedb_http_connections_active 3"));
  EXPECT_TRUE(Has(text, "stemedb_http_connections_rejected_total 1"));
  EXPECT_TRUE(Has(text, "stemedb_ready 1"));
  EXPECT_TRUE(Has(text, "stemedb_wal_replay_seconds 1.5"));
  EXPECT_TRUE(Has(text, "stemedb_disk_free_bytes{volume=\"wal\"} 42"));
}

}  // namespace
}  // namespace stemedb::api
