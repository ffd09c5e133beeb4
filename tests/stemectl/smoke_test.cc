// `stemectl smoke` against the real server: every step passes on a healthy
// server and cleans up after itself; otherwise exactly one line names the
// first failed step (non-admin key, no key, unreachable server, auth off).
#include <gtest/gtest.h>

#include <sstream>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"
#include "tests/stemectl/ctl_runner.h"

namespace stemedb::e2e {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The one line a failed smoke run prints.
void ExpectOneFailLine(const CtlRun& run, const std::string& step) {
  EXPECT_EQ(run.out, "") << run.out;
  std::vector<std::string> lines = Lines(run.err);
  ASSERT_EQ(lines.size(), 1u) << run.err;
  EXPECT_EQ(lines[0].rfind("smoke: FAIL step '" + step + "': ", 0), 0u) << lines[0];
}

TEST(SmokeTest, PassesOnAHealthyServerAndLeavesNoLiveKey) {
  ServerProcess server;
  ASSERT_TRUE(server.Start().ok()) << server.Stderr();
  for (int run = 0; run < 2; ++run) {  // a rerun is safe: a fresh project each time
    CtlRun smoke = RunCtl(server, {"smoke"});
    ASSERT_EQ(smoke.exit_code, 0) << smoke.out << smoke.err;
    EXPECT_EQ(smoke.err, "");
    const std::vector<std::string> steps = {"ready",    "auth",    "create-key", "write",
                                            "read",     "query",   "retract",    "signed-write",
                                            "metering", "metrics", "cleanup"};
    std::vector<std::string> lines = Lines(smoke.out);
    ASSERT_EQ(lines.size(), steps.size()) << smoke.out;
    for (size_t i = 0; i < steps.size(); ++i) {
      EXPECT_EQ(lines[i].rfind("smoke: ok " + steps[i] + ": ", 0), 0u) << lines[i];
    }
  }
  auto http = server.Client();
  auto keys = http->Request("GET", "/v1/admin/api-keys", "", Auth(server.root_key()));
  ASSERT_TRUE(keys && keys->status == 200) << Describe(keys);
  int smoke_keys = 0;
  const json::value listed = ParseJson(keys->body);
  for (const auto& k : listed.at("keys").as_array()) {
    if (Str(k, "label").rfind("smoke-", 0) != 0) continue;
    ++smoke_keys;
    EXPECT_TRUE(k.at("revoked").as_bool()) << "left live: " << keys->body;
  }
  EXPECT_EQ(smoke_keys, 2);
}

TEST(SmokeTest, FailsNamingTheStep) {
  ServerProcess server;
  ASSERT_TRUE(server.Start().ok()) << server.Stderr();
  auto http = server.Client();
  auto writer = CreateKey(*http, server.root_key(), "default", "write_agent");
  ASSERT_TRUE(writer);

  CtlRun not_admin = RunCtl(server, {"smoke"}, {"STEMEDB_ADMIN_KEY=" + writer->key});
  EXPECT_EQ(not_admin.exit_code, 4);
  ExpectOneFailLine(not_admin, "create-key");
  EXPECT_NE(not_admin.err.find("403"), std::string::npos) << not_admin.err;

  CtlRun no_key = RunCtl(server, {"smoke"}, {"STEMEDB_ADMIN_KEY="});
  EXPECT_EQ(no_key.exit_code, 4);
  ExpectOneFailLine(no_key, "create-key");

  CtlRun unreachable =
      RunCtl(server, {"smoke"}, {"STEMEDB_URL=http://127.0.0.1:" + std::to_string(PickFreePort())});
  EXPECT_EQ(unreachable.exit_code, 3);
  ExpectOneFailLine(unreachable, "ready");
}

TEST(SmokeTest, FailsOnAServerWithAuthOff) {
  ServerProcess server;
  server.SetEnv("STEMEDB_AUTH_ENABLED", "false");
  ASSERT_TRUE(server.Start().ok()) << server.Stderr();
  CtlRun smoke = RunCtl(server, {"smoke"});
  EXPECT_EQ(smoke.exit_code, 1);
  ExpectOneFailLine(smoke, "auth");
}

}  // namespace
}  // namespace stemedb::e2e
