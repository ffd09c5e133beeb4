// stemectl against the real server (issue 6): provisioning a hundred projects,
// idempotent reruns, a run interrupted by kill -9 of the server, retries that
// ride through a restart, every output mode, and `wal verify`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"
#include "tests/stemectl/ctl_runner.h"

namespace stemedb::e2e {
namespace {

namespace fs = std::filesystem;

std::string WriteProjects(const ServerProcess& server, int count) {
  std::string path = server.root() + "/projects.txt";
  std::ofstream out(path);
  out << "# a hundred projects\n\n";
  for (int i = 0; i < count; ++i) out << "proj-" << i << (i % 10 == 0 ? "  # tenth\n" : "\n");
  return path;
}

std::map<std::string, std::string> EnvFile(const std::string& path) {
  std::map<std::string, std::string> values;
  std::istringstream in(ReadFile(path));
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return values;
}

// Live keys labelled project-* (not revoked, not rotated away): label -> count.
std::map<std::string, int> ActiveProjectKeys(ServerProcess& server) {
  auto http = server.Client();
  auto r = http->Request("GET", "/v1/admin/api-keys", {}, Auth(server.root_key()));
  std::map<std::string, int> counts;
  if (!r || r->status != 200) {
    ADD_FAILURE() << Describe(r);
    return counts;
  }
  json::value v = ParseJson(r->body);
  const json::array* keys = nullptr;
  if (v.is_array()) keys = &v.as_array();
  if (v.is_object() && v.as_object().contains("keys")) keys = &v.as_object().at("keys").as_array();
  if (keys == nullptr) {
    ADD_FAILURE() << r->body;
    return counts;
  }
  for (const auto& k : *keys) {
    const auto& o = k.as_object();
    const json::value* revoked = o.if_contains("revoked");
    if (revoked && revoked->is_bool() && revoked->as_bool()) continue;
    if (o.contains("rotated_to")) continue;  // in its grace period, replaced
    std::string label(o.at("label").as_string());
    if (label.rfind("project-", 0) == 0) ++counts[label];
  }
  return counts;
}

// Every project's key writes to its own project and cannot see the next one's.
void ExpectKeysIsolated(ServerProcess& server, const std::map<std::string, std::string>& keys) {
  auto http = server.Client();
  std::vector<std::pair<std::string, std::string>> ids;  // project -> assertion id
  for (const auto& [project, key] : keys) {
    auto r = PostAssertion(*http, key,
                           Assertion("s-" + project, "owner", json::string(project), "agent"));
    ASSERT_TRUE(r && r->status == 201) << project << ": " << Describe(r);
    ids.emplace_back(project, std::string(ParseJson(r->body).as_object().at("id").as_string()));
  }
  std::vector<std::string> projects;
  for (const auto& [project, key] : keys) projects.push_back(project);
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& own_key = keys.at(ids[i].first);
    auto own = http->Request("GET", "/v1/assertions/" + ids[i].second, {}, Auth(own_key));
    ASSERT_TRUE(own && own->status == 200) << Describe(own);
    const std::string& other_key = keys.at(ids[(i + 1) % ids.size()].first);
    if (other_key == own_key) continue;
    auto other = http->Request("GET", "/v1/assertions/" + ids[i].second, {}, Auth(other_key));
    ASSERT_TRUE(other && other->status == 404) << Describe(other);
  }
}

std::map<std::string, std::string> KeysFromOutDir(const std::string& dir, int count) {
  std::map<std::string, std::string> keys;
  for (int i = 0; i < count; ++i) {
    std::string project = "proj-" + std::to_string(i);
    std::string path = dir + "/" + project + ".env";
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
      ADD_FAILURE() << "missing " << path;
      continue;
    }
    EXPECT_EQ(st.st_mode & 0777, 0600u) << path;
    auto values = EnvFile(path);
    EXPECT_EQ(values["STEMEDB_PROJECT"], project);
    keys[project] = values["STEMEDB_API_KEY"];
  }
  return keys;
}

class StemectlTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()) << server_.Stderr(); }
  ServerProcess server_;
};

TEST_F(StemectlTest, ProvisionsAHundredProjectsOnceAndRerunCreatesNothing) {
  std::string projects = WriteProjects(server_, 100);
  std::string out_dir = server_.root() + "/keys";
  CtlRun first = RunCtl(server_, {"keys", "provision", projects, "--out-dir", out_dir});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("created 100, skipped 0, rotated 0, failed 0"), std::string::npos)
      << first.out;
  auto keys = KeysFromOutDir(out_dir, 100);
  ASSERT_EQ(keys.size(), 100u);

  CtlRun second =
      RunCtl(server_, {"--output", "json", "keys", "provision", projects, "--out-dir", out_dir});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  json::value summary = ParseJson(second.out).as_object().at("summary");
  EXPECT_EQ(summary.as_object().at("created").as_int64(), 0) << second.out;
  EXPECT_EQ(summary.as_object().at("skipped").as_int64(), 100) << second.out;
  EXPECT_EQ(KeysFromOutDir(out_dir, 100), keys) << "a rerun must not change delivered keys";

  auto active = ActiveProjectKeys(server_);
  EXPECT_EQ(active.size(), 100u);
  for (const auto& [label, count] : active) EXPECT_EQ(count, 1) << label;
  ExpectKeysIsolated(server_, keys);
}

TEST_F(StemectlTest, RunInterruptedByKill9FinishesOnRerunWithoutDuplicates) {
  std::string projects = WriteProjects(server_, 100);
  std::string out_dir = server_.root() + "/keys";
  Ctl run(server_, {"--retry-timeout", "1", "keys", "provision", projects, "--out-dir", out_dir});
  // Kill the server as soon as some keys have been delivered.
  size_t delivered = 0;
  for (int i = 0; i < 20000 && delivered < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    delivered = fs::exists(out_dir)
                    ? static_cast<size_t>(
                          std::distance(fs::directory_iterator(out_dir), fs::directory_iterator{}))
                    : 0;
  }
  server_.Kill();
  CtlRun interrupted = run.Wait();
  size_t files = std::distance(fs::directory_iterator(out_dir), fs::directory_iterator{});
  if (files < 100) {
    EXPECT_NE(interrupted.exit_code, 0) << interrupted.out << interrupted.err;
  }
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  CtlRun rerun = RunCtl(server_, {"keys", "provision", projects, "--out-dir", out_dir});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  auto keys = KeysFromOutDir(out_dir, 100);
  auto active = ActiveProjectKeys(server_);
  EXPECT_EQ(active.size(), 100u);
  for (const auto& [label, count] : active) EXPECT_EQ(count, 1) << label << " duplicated";
  ExpectKeysIsolated(server_, keys);
}

TEST_F(StemectlTest, RetriesRideThroughAServerRestart) {
  server_.Kill();
  std::string projects = WriteProjects(server_, 10);
  std::string out_dir = server_.root() + "/keys";
  // Started while the server is down: it must wait for it, not fail.
  Ctl run(server_, {"keys", "provision", projects, "--out-dir", out_dir});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  CtlRun done = run.Wait();
  ASSERT_EQ(done.exit_code, 0) << done.out << done.err;
  EXPECT_NE(done.err.find("retrying"), std::string::npos) << done.err;
  EXPECT_EQ(KeysFromOutDir(out_dir, 10).size(), 10u);
}

TEST_F(StemectlTest, SecretManifestsAndExecHookDeliverWorkingKeys) {
  std::string projects = WriteProjects(server_, 3);
  std::string secrets = server_.root() + "/secrets";
  CtlRun k8s = RunCtl(
      server_, {"keys", "provision", projects, "--k8s-secrets", secrets, "--namespace", "apps"});
  ASSERT_EQ(k8s.exit_code, 0) << k8s.out << k8s.err;
  std::map<std::string, std::string> keys;
  for (int i = 0; i < 3; ++i) {
    std::string project = "proj-" + std::to_string(i);
    std::string yaml = ReadFile(secrets + "/" + project + ".yaml");
    EXPECT_NE(yaml.find("apiVersion: v1\nkind: Secret\n"), std::string::npos) << yaml;
    EXPECT_NE(yaml.find("  name: stemedb-key-" + project + "\n"), std::string::npos) << yaml;
    EXPECT_NE(yaml.find("  namespace: apps\n"), std::string::npos) << yaml;
    auto at = yaml.find("STEMEDB_API_KEY: \"");
    ASSERT_NE(at, std::string::npos) << yaml;
    keys[project] = yaml.substr(at + 18, 59);
  }
  ExpectKeysIsolated(server_, keys);

  // --exec: the key on stdin, the project in the environment; a failing hook
  // revokes the undelivered key so the next run creates it again.
  std::string exec_dir = server_.root() + "/exec";
  fs::create_directories(exec_dir);
  std::string other = server_.root() + "/other.txt";
  std::ofstream(other) << "exec-a\nexec-b\n";
  CtlRun failing = RunCtl(server_, {"keys", "provision", other, "--exec",
                                    "[ \"$STEMEDB_PROJECT\" = exec-b ] && exit 3; cat > " +
                                        exec_dir + "/$STEMEDB_PROJECT"});
  EXPECT_EQ(failing.exit_code, 1) << failing.out << failing.err;
  EXPECT_FALSE(ActiveProjectKeys(server_).count("project-exec-b"));
  CtlRun fixed = RunCtl(
      server_, {"keys", "provision", other, "--exec", "cat > " + exec_dir + "/$STEMEDB_PROJECT"});
  ASSERT_EQ(fixed.exit_code, 0) << fixed.out << fixed.err;
  EXPECT_NE(fixed.out.find("created 1, skipped 1"), std::string::npos) << fixed.out;
  std::map<std::string, std::string> exec_keys = {{"exec-a", ReadFile(exec_dir + "/exec-a")},
                                                  {"exec-b", ReadFile(exec_dir + "/exec-b")}};
  EXPECT_EQ(exec_keys["exec-a"].size(), 59u) << "key on stdin, no trailing newline";
  ExpectKeysIsolated(server_, exec_keys);
}

TEST_F(StemectlTest, KeyLifecycleUsageAuditAndHealth) {
  CtlRun created = RunCtl(server_, {"--output", "json", "keys", "create", "--label", "ci", "--role",
                                    "read_only", "--project", "alpha"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  json::object key = ParseJson(created.out).as_object();
  std::string key_id(key.at("key_id").as_string());
  CtlRun listed = RunCtl(server_, {"keys", "list", "--project", "alpha"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find(key_id), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find(std::string(key.at("key").as_string())), std::string::npos)
      << "list must not show secrets";
  CtlRun rotated = RunCtl(server_, {"--output", "json", "keys", "rotate", key_id});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  std::string new_id(ParseJson(rotated.out).as_object().at("key_id").as_string());
  EXPECT_NE(new_id, key_id);
  EXPECT_EQ(RunCtl(server_, {"keys", "revoke", new_id}).exit_code, 0);
  CtlRun audit = RunCtl(server_, {"--output", "json", "audit"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  EXPECT_NE(audit.out.find(new_id), std::string::npos) << audit.out;
  CtlRun usage = RunCtl(server_, {"--output", "json", "usage"});
  ASSERT_EQ(usage.exit_code, 0) << usage.err;
  EXPECT_TRUE(ParseJson(usage.out).is_object()) << usage.out;
  CtlRun health = RunCtl(server_, {"health"});
  EXPECT_EQ(health.exit_code, 0) << health.out << health.err;
  CtlRun no_key =
      RunCtl(server_, {"keys", "list"}, {"STEMEDB_ADMIN_KEY=steme_live_" + std::string(48, '0')});
  EXPECT_EQ(no_key.exit_code, 4) << no_key.err;
  EXPECT_EQ(RunCtl(server_, {"keys", "frobnicate"}).exit_code, 2);
}

TEST_F(StemectlTest, WalVerifyFindsTheFirstBadRecord) {
  server_.Stop();
  server_.SetEnv("STEMEDB_WAL_SEGMENT_BYTES", "65536");
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  auto http = server_.Client();
  auto key = CreateKey(*http, server_.root_key(), "alpha", "write_agent");
  ASSERT_TRUE(key);
  for (int i = 0; i < 400; ++i) {
    auto r = PostAssertion(
        *http, key->key,
        Assertion("s" + std::to_string(i), "p", json::string(std::string(300, 'v')), "a"));
    ASSERT_TRUE(r && r->status == 201) << Describe(r);
  }
  server_.Stop();
  std::string wal_dir = server_.data_dir() + "/wal";
  CtlRun clean = RunCtl(server_, {"wal", "verify", wal_dir});
  ASSERT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  std::vector<std::string> segments;
  for (const auto& e : fs::directory_iterator(wal_dir)) {
    if (e.path().extension() == ".wal") segments.push_back(e.path().string());
  }
  std::sort(segments.begin(), segments.end());
  ASSERT_GE(segments.size(), 2u) << "need a sealed segment";
  {
    std::fstream f(segments[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4000);
    char c = 0;
    f.seekg(4000);
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(4000);
    f.write(&c, 1);
  }
  CtlRun bad = RunCtl(server_, {"wal", "verify", wal_dir});
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_NE(bad.out.find(fs::path(segments[0]).filename().string()), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("offset"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace stemedb::e2e
