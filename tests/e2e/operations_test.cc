// Operations end to end (issues 5 and 9) against the real binary: metering
// counters that are exact and survive clean and unclean restarts, per-key
// rate limits that do not slow another project, /metrics as Prometheus text
// with every name of docs/metrics.md, the request log, the disk-space floor (writes 507,
// reads on, recovery without intervention), and WAL faults injected through
// the filesystem seam (STEMEDB_FAILPOINT): fdatasync EIO fail-stops, ENOSPC
// answers 507; after a restart every acknowledged write is there.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"

namespace stemedb::e2e {
namespace {

using client::HttpResponse;

int64_t Int(const json::value& v, const char* field) {
  const json::value* f = v.is_object() ? v.as_object().if_contains(field) : nullptr;
  if (f == nullptr) return -1;
  if (f->is_int64()) return f->as_int64();
  return f->is_uint64() ? static_cast<int64_t>(f->as_uint64()) : -1;
}

// What one key has done, as the test counts it.
struct Expected {
  int64_t requests = 0;
  int64_t assertions = 0;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
};

class OperationsTest : public ::testing::Test {
 protected:
  Result<HttpResponse> Send(const std::string& method, const std::string& target,
                            const std::string& body, const std::string& key,
                            Expected* count = nullptr) {
    auto r = http_->Request(method, target, body, Auth(key));
    if (r && count != nullptr) {
      count->requests++;
      count->bytes_in += static_cast<int64_t>(body.size());
      count->bytes_out += static_cast<int64_t>(r->body.size());
    }
    return r;
  }

  // Checks GET /v1/usage against `want`, then counts that request itself
  // (a usage reply reports the counts before it).
  void CheckUsage(const std::string& key, Expected* want, const char* when) {
    SCOPED_TRACE(when);
    auto r = http_->Request("GET", "/v1/usage", "", Auth(key));
    ASSERT_TRUE(r && r->status == 200) << Describe(r);
    json::value u = ParseJson(r->body);
    EXPECT_EQ(Int(u, "requests"), want->requests) << r->body;
    EXPECT_EQ(Int(u, "assertions_written"), want->assertions) << r->body;
    EXPECT_EQ(Int(u, "bytes_in"), want->bytes_in) << r->body;
    EXPECT_EQ(Int(u, "bytes_out"), want->bytes_out) << r->body;
    EXPECT_EQ(Int(u, "rate_limited"), 0) << r->body;
    want->requests++;
    want->bytes_out += static_cast<int64_t>(r->body.size());
  }

  ServerProcess server_;
  std::unique_ptr<client::HttpClient> http_;
};

TEST_F(OperationsTest, UsageCountersAreExactAndSurviveRestartAndKill9) {
  server_.SetEnv("STEMEDB_USAGE_FLUSH_INTERVAL_MS", "200");
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  auto key = CreateKey(*http_, server_.root_key(), "metered", "write_agent");
  ASSERT_TRUE(key);

  Expected want;
  for (int i = 0; i < 4; ++i) {
    auto r = Send("POST", "/v1/assert",
                  Serialize(Assertion("s" + std::to_string(i), "p", i, "agent")), key->key, &want);
    ASSERT_TRUE(r && r->status == 201) << Describe(r);
    want.assertions++;
  }
  json::array batch;
  for (int i = 0; i < 10; ++i) batch.push_back(Assertion("b", "p" + std::to_string(i), i, "agent"));
  auto r = Send("POST", "/v1/assert/batch", Serialize(json::object{{"assertions", batch}}),
                key->key, &want);
  ASSERT_TRUE(r && r->status == 201) << Describe(r);
  want.assertions += 10;
  // A rejected write is a request with bytes, but writes no assertion.
  r = Send("POST", "/v1/assert", R"({"subject":""})", key->key, &want);
  ASSERT_TRUE(r && r->status == 400) << Describe(r);

  CheckUsage(key->key, &want, "live");

  // Clean stop: the final flush persists everything.
  ASSERT_TRUE(server_.Restart().ok()) << server_.Stderr();
  http_ = server_.Client();
  CheckUsage(key->key, &want, "after SIGTERM restart");

  // kill -9 after more than one flush interval: nothing is lost.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  server_.Kill();
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  CheckUsage(key->key, &want, "after kill -9");

  // The admin view sums the project.
  auto admin =
      http_->Request("GET", "/v1/admin/usage?project=metered", "", Auth(server_.root_key()));
  ASSERT_TRUE(admin && admin->status == 200) << Describe(admin);
  json::value a = ParseJson(admin->body);
  ASSERT_TRUE(a.is_object() && a.as_object().contains("projects")) << admin->body;
  bool found = false;
  for (const auto& p : a.at("projects").as_array()) {
    if (Str(p, "project") == "metered") {
      found = true;
      EXPECT_EQ(Int(p, "assertions_written"), 14) << admin->body;
    }
  }
  EXPECT_TRUE(found) << admin->body;
}

TEST_F(OperationsTest, MeteringOffCountsNothing) {
  server_.SetEnv("STEMEDB_METER_ENABLED", "false");
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  auto key = CreateKey(*http_, server_.root_key(), "unmetered", "write_agent");
  ASSERT_TRUE(key);
  auto r = PostAssertion(*http_, key->key, Assertion("s", "p", 1, "a"));
  ASSERT_TRUE(r && r->status == 201) << Describe(r);
  auto u = http_->Request("GET", "/v1/usage", "", Auth(key->key));
  ASSERT_TRUE(u && u->status == 200) << Describe(u);
  EXPECT_EQ(Int(ParseJson(u->body), "requests"), 0) << u->body;
  EXPECT_EQ(Int(ParseJson(u->body), "assertions_written"), 0) << u->body;
}

TEST_F(OperationsTest, NoisyKeyIsLimitedWhileAnotherProjectKeepsWriting) {
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  json::object req{
      {"label", "noisy"}, {"role", "write_agent"}, {"project", "noisy"}, {"rate_limit", "5/s,5"}};
  auto created =
      http_->Request("POST", "/v1/admin/api-keys", Serialize(req), Auth(server_.root_key()));
  ASSERT_TRUE(created && created->status == 201) << Describe(created);
  const std::string noisy = Str(ParseJson(created->body), "key");
  auto quiet = CreateKey(*http_, server_.root_key(), "quiet", "write_agent");
  ASSERT_TRUE(quiet);

  std::atomic<bool> stop{false};
  std::atomic<int> noisy_ok{0}, noisy_limited{0}, noisy_other{0}, missing_retry_after{0};
  std::thread hammer([&] {
    auto http = server_.Client();
    int i = 0;
    while (!stop.load()) {
      auto r = PostAssertion(*http, noisy, Assertion("n", "p", i++, "a"));
      if (!r) {
        noisy_other++;
      } else if (r->status == 201) {
        noisy_ok++;
      } else if (r->status == 429 && ErrorCode(*r) == "rate_limited") {
        noisy_limited++;
        if (r->Header("Retry-After").empty()) missing_retry_after++;
      } else {
        noisy_other++;
      }
    }
  });
  int quiet_ok = 0, quiet_other = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; std::chrono::steady_clock::now() - start < std::chrono::seconds(2); ++i) {
    auto r = PostAssertion(*http_, quiet->key, Assertion("q", "p", i, "a"));
    if (r && r->status == 201) {
      quiet_ok++;
    } else {
      quiet_other++;
    }
  }
  stop = true;
  hammer.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(quiet_other, 0) << "the quiet project was refused while another was limited";
  EXPECT_GT(quiet_ok, 10);
  EXPECT_GT(noisy_limited.load(), 0);
  EXPECT_EQ(missing_retry_after.load(), 0);
  EXPECT_EQ(noisy_other.load(), 0);
  // Token bucket: burst 5 plus 5/s (a little slack for the clock).
  EXPECT_LE(noisy_ok.load(), 5 + static_cast<int>(5 * seconds) + 2) << "limit not enforced";

  // Metering and metrics both saw exactly the refusals.
  auto u = http_->Request("GET", "/v1/usage", "", Auth(noisy));
  // The usage request itself may be limited: retry after the bucket refills.
  for (int i = 0; i < 10 && u && u->status == 429; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    u = http_->Request("GET", "/v1/usage", "", Auth(noisy));
  }
  ASSERT_TRUE(u && u->status == 200) << Describe(u);
  int64_t limited_counted = Int(ParseJson(u->body), "rate_limited");
  EXPECT_GE(limited_counted, noisy_limited.load()) << u->body;
  EXPECT_LE(limited_counted, noisy_limited.load() + 10) << u->body;
  auto m = http_->Request("GET", "/metrics", "", {});
  ASSERT_TRUE(m && m->status == 200);
  std::smatch match;
  std::regex line(R"re(stemedb_rate_limited_total\{project="noisy"\} (\d+))re");
  ASSERT_TRUE(std::regex_search(m->body, match, line)) << "no rate-limit counter for noisy";
  EXPECT_EQ(std::stoll(match[1]), limited_counted);
  EXPECT_EQ(m->body.find("stemedb_rate_limited_total{project=\"quiet\"} 1"), std::string::npos);
}

// Group commit must form under concurrent writers with any number of I/O
// threads. With one I/O thread, committing inline (each write synced on the
// I/O thread while the next requests wait unread on its sockets) would make
// every group a single record; the server turns inline commits off there.
TEST_F(OperationsTest, ConcurrentWritersShareFsyncsWithOneOrTwoIoThreads) {
  for (const char* io_threads : {"1", "2"}) {
    SCOPED_TRACE(std::string("STEMEDB_IO_THREADS=") + io_threads);
    ServerProcess server;
    server.SetEnv("STEMEDB_IO_THREADS", io_threads);
    ASSERT_TRUE(server.Start().ok()) << server.Stderr();
    auto http = server.Client();
    json::object req{{"label", "load"},
                     {"role", "write_agent"},
                     {"project", "load"},
                     {"rate_limit", "1000000/s,1000000"}};
    auto created =
        http->Request("POST", "/v1/admin/api-keys", Serialize(req), Auth(server.root_key()));
    ASSERT_TRUE(created && created->status == 201) << Describe(created);
    const std::string key = Str(ParseJson(created->body), "key");
    constexpr int kWriters = 32, kPerWriter = 40;
    std::atomic<int> failed{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        auto client = server.Client();
        for (int i = 0; i < kPerWriter; ++i) {
          auto r = PostAssertion(*client, key, Assertion("s" + std::to_string(w), "p", i, "a"));
          if (!r || r->status != 201) failed++;
        }
      });
    }
    for (auto& t : writers) t.join();
    EXPECT_EQ(failed.load(), 0);
    auto m = http->Request("GET", "/metrics", "", {});
    ASSERT_TRUE(m && m->status == 200);
    std::smatch sum, count;
    ASSERT_TRUE(std::regex_search(
        m->body, sum, std::regex(R"re(stemedb_wal_group_commit_records_sum ([0-9.e+]+))re")));
    ASSERT_TRUE(std::regex_search(
        m->body, count, std::regex(R"re(stemedb_wal_group_commit_records_count ([0-9.e+]+))re")));
    const double records = std::stod(sum[1]), groups = std::stod(count[1]);
    ASSERT_GE(records, kWriters * kPerWriter);
    // 32 writers waiting on each other: typically 8-20 records per fsync.
    EXPECT_GT(records / groups, 2.0) << records << " records in " << groups << " groups";
  }
}

TEST_F(OperationsTest, MetricsAreValidPrometheusTextAndMatchDocsMetrics) {
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  auto key = CreateKey(*http_, server_.root_key(), "metrics", "write_agent");
  ASSERT_TRUE(key);
  for (int i = 0; i < 7; ++i) {
    auto r = PostAssertion(*http_, key->key, Assertion("s", "p", i, "a"));
    ASSERT_TRUE(r && r->status == 201) << Describe(r);
  }
  ASSERT_TRUE(
      http_->Request("GET", "/v1/assertions/0123456789abcdef0123456789abcdef", "", Auth(key->key)));
  auto m = http_->Request("GET", "/metrics", "", {});
  ASSERT_TRUE(m && m->status == 200) << Describe(m);
  EXPECT_NE(m->Header("Content-Type").find("text/plain"), std::string::npos);

  // Every line: a comment (# HELP / # TYPE) or `name{labels} value`.
  std::regex sample(
      R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$)re");
  std::set<std::string> names;
  std::istringstream lines(m->body);
  std::string l;
  int n = 0;
  while (std::getline(lines, l)) {
    if (l.empty()) continue;
    if (l.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(l.substr(7));
      std::string name;
      t >> name;
      names.insert(name);
      continue;
    }
    if (l[0] == '#') continue;
    ++n;
    EXPECT_TRUE(std::regex_match(l, sample)) << "not Prometheus text: " << l;
  }
  EXPECT_GT(n, 20);
  // docs/metrics.md is the list: every documented family is served and
  // every served family is documented (its table rows start "| `name` |").
  std::ifstream doc(std::string(STEMEDB_SOURCE_DIR) + "/docs/metrics.md");
  ASSERT_TRUE(doc) << "docs/metrics.md";
  std::set<std::string> documented;
  std::regex row(R"re(^\| `([a-z_:]+)` \|.*)re");
  for (std::string d; std::getline(doc, d);) {
    std::smatch mm;
    if (std::regex_match(d, mm, row)) documented.insert(mm[1]);
  }
  EXPECT_GT(documented.size(), 15u) << "docs/metrics.md tables not found";
  for (const auto& name : documented) {
    EXPECT_EQ(names.count(name), 1u) << "documented in docs/metrics.md, not served: " << name;
  }
  for (const auto& name : names) {
    EXPECT_EQ(documented.count(name), 1u) << "served, not in docs/metrics.md: " << name;
  }
  EXPECT_NE(m->body.find("stemedb_assertions_written_total{project=\"metrics\"} 7"),
            std::string::npos);
  // Route templates, never raw paths: the id above must not be a label.
  EXPECT_EQ(m->body.find("0123456789abcdef0123456789abcdef"), std::string::npos);
  EXPECT_NE(m->body.find("route=\"/v1/assertions/{id}\""), std::string::npos);
  // fsync buckets span 50 µs .. 1 s.
  EXPECT_NE(m->body.find("stemedb_wal_fsync_latency_seconds_bucket{le=\"5e-05\"}"),
            std::string::npos);
  EXPECT_NE(m->body.find("stemedb_wal_fsync_latency_seconds_bucket{le=\"1\"}"), std::string::npos);
}

TEST_F(OperationsTest, RequestLogIsOneJsonObjectPerLineAndNeverHoldsAKeyOrBody) {
  server_.SetEnv("STEMEDB_LOG_FORMAT", "json");
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  auto key = CreateKey(*http_, server_.root_key(), "logged", "write_agent");
  ASSERT_TRUE(key);
  auto r = PostAssertion(*http_, key->key, Assertion("s", "p", "body-marker-4711", "a"));
  ASSERT_TRUE(r && r->status == 201) << Describe(r);
  const std::string wrong = NewKeyString();
  auto denied = http_->Request("GET", "/v1/usage", "", Auth(wrong));
  ASSERT_TRUE(denied && denied->status == 401);
  ASSERT_EQ(server_.Stop(), 0);

  std::string log = server_.Stderr();
  for (const std::string& secret : {server_.root_key(), key->key, wrong}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "a key is in the log";
  }
  EXPECT_EQ(log.find("body-marker-4711"), std::string::npos) << "a body is in the log";
  std::istringstream lines(log);
  std::string l;
  int requests = 0;
  bool saw_write = false;
  while (std::getline(lines, l)) {
    if (l.empty()) continue;
    json::value v = ParseJson(l);
    ASSERT_TRUE(v.is_object()) << "not one JSON object per line: " << l;
    if (Str(v, "msg") != "request" && Str(v, "message") != "request") continue;
    ++requests;
    for (const char* f : {"method", "route", "status", "duration_ms", "key_id", "project"}) {
      EXPECT_TRUE(v.as_object().contains(f)) << f << " missing: " << l;
    }
    if (Str(v, "route") == "/v1/assert" && Str(v, "project") == "logged" &&
        Str(v, "key_id") == key->key_id) {
      saw_write = true;
    }
  }
  EXPECT_GE(requests, 3);
  EXPECT_TRUE(saw_write) << log;
}

// Free bytes of the filesystem holding `path`.
uint64_t FreeBytes(const std::string& path) {
  struct statvfs st {};
  if (statvfs(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

TEST_F(OperationsTest, LowDiskRefusesWritesKeepsReadsAndRecoversByItself) {
  // The floor sits 128 MiB below what is free now; a 512 MiB file pushes the
  // volume under it, deleting the file lifts it again. No restart, no alarm.
  uint64_t free_now = FreeBytes(server_.root());  // the temp root exists before Start()
  constexpr uint64_t kMiB = 1 << 20;
  if (free_now < 1024 * kMiB) GTEST_SKIP() << "needs 1 GiB free on " << server_.root();
  server_.SetEnv("STEMEDB_MIN_FREE_BYTES", std::to_string(free_now - 128 * kMiB));
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  auto key = CreateKey(*http_, server_.root_key(), "disk", "write_agent");
  ASSERT_TRUE(key);
  auto before = PostAssertion(*http_, key->key, Assertion("s", "p", 1, "a"));
  ASSERT_TRUE(before && before->status == 201) << Describe(before);
  const std::string id = Str(ParseJson(before->body), "id");

  const std::string filler = server_.root() + "/filler";
  int fd = ::open(filler.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::posix_fallocate(fd, 0, 512 * kMiB), 0);
  ::close(fd);

  auto wait_for = [&](int status) {
    for (int i = 0; i < 50; ++i) {
      auto r = PostAssertion(*http_, key->key, Assertion("s", "p", 2, "a"));
      if (r && r->status == status) return *r;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return HttpResponse{};
  };
  HttpResponse refused = wait_for(507);
  EXPECT_EQ(refused.status, 507);
  EXPECT_EQ(ErrorCode(refused), "insufficient_storage");
  auto read = http_->Request("GET", "/v1/assertions/" + id, "", Auth(key->key));
  EXPECT_TRUE(read && read->status == 200) << Describe(read);
  auto live = http_->Request("GET", "/v1/health", "", {});
  EXPECT_TRUE(live && live->status == 200) << "a full disk must not fail liveness";
  auto ready = http_->Request("GET", "/v1/ready", "", {});
  ASSERT_TRUE(ready);
  EXPECT_NE(ready->body.find("\"low\":true"), std::string::npos) << ready->body;

  ::unlink(filler.c_str());
  HttpResponse resumed = wait_for(201);
  EXPECT_EQ(resumed.status, 201) << "writes did not resume when space returned";
}

TEST_F(OperationsTest, FsyncEioFailsStopAndRestartKeepsEveryAcknowledgedWrite) {
  // The first syncs succeed (startup, key creation, some writes); from the
  // 40th on every fdatasync of a WAL file fails with EIO.
  server_.SetEnv("STEMEDB_FAILPOINT", "sync_eio_after=40,path_contains=.wal");
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  auto key = CreateKey(*http_, server_.root_key(), "faulty", "write_agent");
  ASSERT_TRUE(key);

  std::vector<std::pair<std::string, int>> acked;  // id, value
  int first_failure = -1;
  for (int i = 0; i < 200 && first_failure < 0; ++i) {
    auto r = PostAssertion(*http_, key->key, Assertion("s", "p" + std::to_string(i), i, "a"));
    ASSERT_TRUE(r) << Describe(r);
    if (r->status == 201) {
      acked.emplace_back(Str(ParseJson(r->body), "id"), i);
    } else {
      first_failure = i;
      EXPECT_EQ(r->status, 503) << Describe(*r);
      EXPECT_EQ(ErrorCode(*r), "unavailable");
    }
  }
  ASSERT_GE(first_failure, 0) << "the injected EIO never surfaced";
  ASSERT_FALSE(acked.empty());
  // Fail-stop: nothing is acknowledged any more, even though later syncs of
  // a real disk might "succeed" (the page cache forgot the dirty pages).
  for (int i = 0; i < 5; ++i) {
    auto r = PostAssertion(*http_, key->key, Assertion("later", "p", i, "a"));
    ASSERT_TRUE(r);
    EXPECT_NE(r->status, 201) << "acknowledged a write after an fsync failure";
  }
  auto ready = http_->Request("GET", "/v1/ready", "", {});
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  auto live = http_->Request("GET", "/v1/health", "", {});
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 503) << "a fail-stopped WAL needs a restart: liveness must say so";
  // Reads still answer from what was applied.
  auto read = http_->Request("GET", "/v1/assertions/" + acked.front().first, "", Auth(key->key));
  EXPECT_TRUE(read && read->status == 200) << Describe(read);
  EXPECT_NE(server_.Stderr().find("fail-stop"), std::string::npos) << "no clear log line";

  server_.Kill();
  server_.UnsetEnv("STEMEDB_FAILPOINT");
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  for (const auto& [id, value] : acked) {
    auto r = http_->Request("GET", "/v1/assertions/" + id, "", Auth(key->key));
    ASSERT_TRUE(r && r->status == 200) << "acknowledged write lost: " << id << " " << Describe(r);
    EXPECT_EQ(ParseJson(r->body).at("value").as_int64(), value);
  }
  auto after = PostAssertion(*http_, key->key, Assertion("s", "after", 1, "a"));
  EXPECT_TRUE(after && after->status == 201) << Describe(after);
}

TEST_F(OperationsTest, EnospcOnWalWriteAnswers507AndLosesNothing) {
  // Writes into WAL files stop fitting after 64 KiB (the segment header and
  // the key's record fit first); a part of the failing record is written (a
  // short write) to prove nothing half-written is ever served or replayed.
  server_.SetEnv("STEMEDB_FAILPOINT", "short_write_after_bytes=65536,path_contains=.wal");
  server_.SetEnv("STEMEDB_WAL_SEGMENT_BYTES", "1048576");
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  auto key = CreateKey(*http_, server_.root_key(), "full", "write_agent");
  ASSERT_TRUE(key);
  std::vector<std::pair<std::string, std::string>> acked;
  std::string pad(1000, 'x');
  int refused = 0;
  for (int i = 0; i < 200 && refused < 3; ++i) {
    std::string value = pad + std::to_string(i);
    auto r = PostAssertion(*http_, key->key,
                           Assertion("s", "p" + std::to_string(i), json::string(value), "a"));
    ASSERT_TRUE(r) << Describe(r);
    if (r->status == 201) {
      ASSERT_EQ(refused, 0) << "a write was acknowledged after the disk filled";
      acked.emplace_back(Str(ParseJson(r->body), "id"), value);
    } else {
      EXPECT_EQ(r->status, 507) << Describe(*r);
      EXPECT_EQ(ErrorCode(*r), "insufficient_storage");
      ++refused;
    }
  }
  ASSERT_EQ(refused, 3);
  ASSERT_GT(acked.size(), 10u);
  auto read = http_->Request("GET", "/v1/assertions/" + acked.back().first, "", Auth(key->key));
  EXPECT_TRUE(read && read->status == 200) << Describe(read);
  auto live = http_->Request("GET", "/v1/health", "", {});
  EXPECT_TRUE(live && live->status == 200) << "a full disk must not fail liveness";

  // Space returns (here: the failpoint is gone after a restart); nothing
  // acknowledged is lost and nothing half-written appears.
  ASSERT_EQ(server_.Stop(), 0);
  server_.UnsetEnv("STEMEDB_FAILPOINT");
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  for (const auto& [id, value] : acked) {
    auto r = http_->Request("GET", "/v1/assertions/" + id, "", Auth(key->key));
    ASSERT_TRUE(r && r->status == 200) << "acknowledged write lost: " << id;
    EXPECT_EQ(ParseJson(r->body).at("value").as_string(), value);
  }
  auto q = http_->Request("GET", "/v1/query?subject=s&limit=1000", "", Auth(key->key));
  ASSERT_TRUE(q && q->status == 200);
  EXPECT_EQ(ParseJson(q->body).at("assertions").as_array().size(), acked.size())
      << "a refused write became visible";
  auto after = PostAssertion(*http_, key->key, Assertion("s", "after", 1, "a"));
  EXPECT_TRUE(after && after->status == 201) << Describe(after);
}

}  // namespace
}  // namespace stemedb::e2e
