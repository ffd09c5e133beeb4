// The retention sweeper against the real server (docs/projects.md
// "Retention"): assertions older than their project's retain_days are
// expired through the WAL in erase records of at most
// STEMEDB_RETENTION_BATCH_IDS ids, younger ones and other projects are kept,
// and the sweep settings are checked at start like every other setting.
//
// Old assertions are imported: an id begins with its creation time and an
// import keeps ids, so no clock is faked.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"
#include "util/time_format.h"

namespace stemedb::e2e {
namespace {

using client::HttpResponse;

constexpr int64_t kMicrosPerDay = 86400LL * 1000 * 1000;

// An import body (docs/projects.md "Export and import") of `n` assertions
// of `project` about `subject`, created `age_days` ago, 10 µs apart.
std::string ImportBody(const std::string& project, const std::string& subject, int n,
                       int64_t age_days, int tag) {
  std::string out =
      Serialize(json::object{{"stemedb_export", 1}, {"project", project}, {"as_of_lsn", 1}}) + "\n";
  const int64_t base = UnixMicrosNow() - age_days * kMicrosPerDay;
  for (int i = 0; i < n; ++i) {
    const int64_t us = base + i * 10;
    char id[33];
    std::snprintf(id, sizeof id, "%016" PRIx64 "%08x%08x", static_cast<uint64_t>(us), tag, i);
    out += Serialize(json::object{{"id", id},
                                  {"subject", subject},
                                  {"predicate", "p"},
                                  {"value", i},
                                  {"agent_id", "agent"},
                                  {"signed", false},
                                  {"lsn", 1},
                                  {"recorded_at", FormatRfc3339(us)}}) +
           "\n";
  }
  return out;
}

class RetentionTest : public ::testing::Test {
 protected:
  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& type = "application/json") {
    Headers h;
    if (!body.empty()) h.push_back({"Content-Type", type});
    auto r = http_->Request(method, target, body, Auth(server_.root_key(), h));
    EXPECT_TRUE(r) << Describe(r);
    return r ? *r : HttpResponse{};
  }
  int64_t Figure(const std::string& project) {
    HttpResponse r = Call("GET", "/v1/admin/projects/" + project);
    EXPECT_EQ(r.status, 200) << Describe(r);
    return r.status == 200 ? ParseJson(r.body).at("assertions").to_number<int64_t>() : -1;
  }
  size_t History(const std::string& project, const std::string& subject) {
    HttpResponse r =
        Call("GET", "/v1/query?history=true&limit=1000&project=" + project + "&subject=" + subject);
    EXPECT_EQ(r.status, 200) << Describe(r);
    return r.status == 200 ? ParseJson(r.body).at("assertions").as_array().size() : 0;
  }

  ServerProcess server_;
  std::unique_ptr<client::HttpClient> http_;
};

TEST_F(RetentionTest, SweepExpiresInErasesOfBatchIdsAndKeepsTheRest) {
  server_.SetEnv("STEMEDB_RETENTION_INTERVAL_MS", "100");
  server_.SetEnv("STEMEDB_RETENTION_BATCH_IDS", "7");
  server_.SetEnv("STEMEDB_RETENTION_MAX_PER_SECOND", "1000000");
  // Nothing but this test and the sweeper takes LSNs (no usage flushes).
  server_.SetEnv("STEMEDB_METER_ENABLED", "false");
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();

  HttpResponse created = Call("POST", "/v1/admin/projects",
                              Serialize(json::object{{"project", "old"}, {"retain_days", 1}}));
  ASSERT_EQ(created.status, 201) << Describe(created);
  auto live = CreateKey(*http_, server_.root_key(), "live", "write_agent");
  ASSERT_TRUE(live) << live.error().ToString();
  // "live" holds assertions as old as the expired ones, but has no retention.
  HttpResponse kept = Call("POST", "/v1/admin/projects/live/import",
                           ImportBody("live", "ancient", 5, 30, 1), "application/x-ndjson");
  ASSERT_EQ(kept.status, 200) << Describe(kept);

  // 30 expired and 4 fresh assertions in one import: one WAL record.
  std::string body = ImportBody("old", "expired", 30, 30, 2);
  std::string fresh = ImportBody("old", "fresh", 4, 0, 3);
  body += fresh.substr(fresh.find('\n') + 1);
  HttpResponse imported =
      Call("POST", "/v1/admin/projects/old/import", body, "application/x-ndjson");
  ASSERT_EQ(imported.status, 200) << Describe(imported);
  json::value reply = ParseJson(imported.body);
  ASSERT_EQ(reply.at("imported").to_number<int64_t>(), 34);
  const int64_t import_lsn = reply.at("lsn").to_number<int64_t>();

  // A wait, not a timing assertion: sweeps are 100 ms apart.
  int64_t left = -1;
  for (int i = 0; i < 600 && (left = Figure("old")) != 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(left, 4) << server_.Stderr();
  EXPECT_EQ(History("old", "expired"), 0u);
  EXPECT_EQ(History("old", "fresh"), 4u);
  EXPECT_EQ(History("live", "ancient"), 5u);

  // The sweep's LSNs are its erase records: 30 ids, 7 per record.
  auto write = PostAssertion(*http_, live->key, Assertion("s", "p", 1, "agent"));
  ASSERT_TRUE(write && write->status == 201) << Describe(write);
  const int64_t write_lsn = ParseJson(write->body).at("lsn").to_number<int64_t>();
  EXPECT_EQ(write_lsn - import_lsn - 1, 5) << "erase records between the import and the write";
  EXPECT_NE(server_.Stderr().find("removed=30"), std::string::npos) << server_.Stderr();

  // Through the WAL: after kill -9 nothing expired comes back.
  server_.Kill();
  ASSERT_TRUE(server_.Restart().ok()) << server_.Stderr();
  http_ = server_.Client();
  EXPECT_EQ(History("old", "expired"), 0u);
  EXPECT_EQ(History("old", "fresh"), 4u);
  EXPECT_EQ(Figure("old"), 4);
}

// Each sweep setting is checked at start: a bad value exits 1 with one line
// naming the variable, before anything is written.
TEST(RetentionSettingsTest, BadValuesRefuseToStart) {
  for (auto [var, value] : {std::pair{"STEMEDB_RETENTION_BATCH_IDS", "0"},
                            std::pair{"STEMEDB_RETENTION_BATCH_IDS", "many"},
                            std::pair{"STEMEDB_RETENTION_MAX_PER_SECOND", "0"},
                            std::pair{"STEMEDB_RETENTION_MAX_PER_SECOND", "-5"}}) {
    ServerProcess server;
    server.SetEnv(var, value);
    ServerProcess::ExitResult r = server.RunExpectExit();
    ASSERT_FALSE(r.timed_out) << var << "=" << value << ": " << r.stderr_text;
    EXPECT_EQ(r.exit_code, 1) << var << "=" << value << ": " << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(var), std::string::npos) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(std::string("'") + value + "'"), std::string::npos)
        << r.stderr_text;
  }
}

}  // namespace
}  // namespace stemedb::e2e
