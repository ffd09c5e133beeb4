// `stemectl projects ...` against the real server (docs/stemectl.md): every
// command is safe to repeat, errors are one line with the documented exit
// code, and `keys provision` registers a hundred projects under a strict
// registry and is safe to re-run.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"
#include "tests/stemectl/ctl_runner.h"

namespace stemedb::e2e {
namespace {

CtlRun Stemectl(const ServerProcess& server, std::vector<std::string> args) {
  return Ctl(server, std::move(args)).Wait();
}

TEST(ProjectsCommandTest, CreateUpdateDescribeListRecount) {
  ServerProcess server;
  ASSERT_TRUE(server.Start().ok()) << server.Stderr();
  CtlRun r = Stemectl(server, {"projects", "create", "alpha", "--max-assertions", "100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("max_assertions: 100"), std::string::npos) << r.out;
  r = Stemectl(server, {"projects", "create", "alpha", "--max-assertions", "100"});
  EXPECT_EQ(r.exit_code, 0) << "a repeated create changes nothing: " << r.err;
  r = Stemectl(server, {"projects", "create", "alpha", "--max-assertions", "5"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("409"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;

  r = Stemectl(server,
               {"projects", "update", "alpha", "--max-bytes", "1048576", "--retain-days", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Stemectl(server, {"--output", "json", "projects", "describe", "alpha"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::object p = ParseJson(r.out).as_object();
  EXPECT_EQ(p.at("max_assertions").to_number<int64_t>(), 100);
  EXPECT_EQ(p.at("max_bytes").to_number<int64_t>(), 1048576);
  EXPECT_EQ(p.at("retain_days").to_number<int64_t>(), 7);

  auto http = server.Client();
  auto key = CreateKey(*http, server.root_key(), "alpha", "write_agent");
  ASSERT_TRUE(key);
  for (int i = 0; i < 3; ++i) {
    auto w = PostAssertion(*http, key->key, Assertion("s", "p", i, "a"));
    ASSERT_TRUE(w && w->status == 201) << Describe(w);
  }
  r = Stemectl(server, {"projects", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("alpha"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("STORED_BYTES"), std::string::npos) << r.out;
  r = Stemectl(server, {"projects", "recount", "alpha"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("counted:  3 assertions"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("consistent"), std::string::npos) << r.out;

  // Bad input: one line, usage or failure exit code.
  r = Stemectl(server, {"projects", "update", "alpha"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = Stemectl(server, {"projects", "describe", "nope"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("404"), std::string::npos) << r.err;
  r = Stemectl(server, {"projects", "create", "Bad_Name"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("DNS label"), std::string::npos) << r.err;
}

TEST(ProjectsCommandTest, ProvisionRegistersAHundredProjectsUnderAStrictRegistry) {
  ServerProcess server;
  server.SetEnv("STEMEDB_PROJECT_REGISTRY_STRICT", "true");
  ASSERT_TRUE(server.Start().ok()) << server.Stderr();
  const std::string file = server.root() + "/projects.txt";
  {
    std::ofstream out(file);
    for (int i = 0; i < 100; ++i) out << "proj-" << i << "\n";
  }
  const std::string dir = server.root() + "/keys";
  CtlRun r = Stemectl(server, {"keys", "provision", file, "--out-dir", dir});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("created 100, skipped 0, rotated 0, failed 0"), std::string::npos) << r.out;
  // Safe to re-run: nothing is created twice.
  r = Stemectl(server, {"keys", "provision", file, "--out-dir", dir});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("created 0, skipped 100"), std::string::npos) << r.out;
  r = Stemectl(server, {"--output", "json", "projects", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::array list = ParseJson(r.out).at("projects").as_array();
  EXPECT_EQ(list.size(), 100u);
  for (const auto& p : list) EXPECT_EQ(p.at("keys").to_number<int64_t>(), 1) << p;
}

}  // namespace
}  // namespace stemedb::e2e
