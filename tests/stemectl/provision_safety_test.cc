// Operator commands that change keys are safe to repeat (issue 15): a
// re-run of `keys provision` into a fresh workspace changes no live key and
// re-delivers nothing; redelivery is an explicit --rotate whose old keys keep
// working through the grace period; a stale key file is never overwritten;
// `keys rotate` keeps the old key for the default grace; backup-role keys.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"
#include "tests/stemectl/ctl_runner.h"
#include "util/time_format.h"

namespace stemedb::e2e {
namespace {

namespace fs = std::filesystem;

class ProvisionSafetyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
    http_ = server_.Client();
    projects_ = server_.root() + "/projects.txt";
    std::ofstream out(projects_);
    for (int i = 0; i < kProjects; ++i) out << "proj-" << i << "\n";
  }

  // project -> key, from the env files of `dir` (all kProjects must be there).
  std::map<std::string, std::string> KeysIn(const std::string& dir) {
    std::map<std::string, std::string> keys;
    for (int i = 0; i < kProjects; ++i) {
      const std::string project = "proj-" + std::to_string(i);
      std::string text = ReadFile(dir + "/" + project + ".env");
      auto at = text.find("STEMEDB_API_KEY=");
      EXPECT_NE(at, std::string::npos) << dir << "/" << project << ".env";
      if (at != std::string::npos) keys[project] = text.substr(at + 16, 59);
    }
    return keys;
  }

  // Status of a write with `key` into its own project.
  int WriteStatus(const std::string& key) {
    auto r = PostAssertion(*http_, key, Assertion("s", "p", 1, "agent"));
    EXPECT_TRUE(r) << Describe(r);
    return r ? r->status : 0;
  }

  void ExpectAllWrite(const std::map<std::string, std::string>& keys, int status,
                      const std::string& what) {
    for (const auto& [project, key] : keys) EXPECT_EQ(WriteStatus(key), status) << what << project;
  }

  // The live (not revoked, not rotated away) key id of every project-* label.
  std::map<std::string, std::string> LiveKeyIds() {
    auto r = http_->Request("GET", "/v1/admin/api-keys", "", Auth(server_.root_key()));
    EXPECT_TRUE(r && r->status == 200) << Describe(r);
    std::map<std::string, std::string> ids;
    if (!r) return ids;
    const json::value listed = ParseJson(r->body);
    for (const auto& k : listed.at("keys").as_array()) {
      const auto& o = k.as_object();
      if (o.at("revoked").as_bool() || o.contains("rotated_to")) continue;
      std::string label(o.at("label").as_string());
      if (label.rfind("project-", 0) == 0) ids[label] = std::string(o.at("key_id").as_string());
    }
    return ids;
  }

  static size_t FilesIn(const std::string& dir) {
    if (!fs::exists(dir)) return 0;
    return static_cast<size_t>(
        std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
  }

  static constexpr int kProjects = 5;
  ServerProcess server_;
  std::unique_ptr<client::HttpClient> http_;
  std::string projects_;
};

TEST_F(ProvisionSafetyTest, RerunIntoAFreshDirChangesNoKeyAndDeliversNothing) {
  const std::string first_dir = server_.root() + "/ci-run-1";
  CtlRun first = RunCtl(server_, {"keys", "provision", projects_, "--out-dir", first_dir});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("created 5, skipped 0, rotated 0, failed 0"), std::string::npos)
      << first.out;
  const auto keys = KeysIn(first_dir);
  ASSERT_EQ(keys.size(), 5u);
  ExpectAllWrite(keys, 201, "delivered key of ");
  const auto live_before = LiveKeyIds();
  ASSERT_EQ(live_before.size(), 5u);

  // Every CI pipeline has a fresh workspace: the same run again, elsewhere.
  for (const char* sink : {"--out-dir", "--k8s-secrets"}) {
    const std::string fresh = server_.root() + "/ci-run-2" + sink;
    CtlRun again =
        RunCtl(server_, {"--output", "json", "keys", "provision", projects_, sink, fresh});
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
    const json::object reply = ParseJson(again.out).as_object();
    const json::object& summary = reply.at("summary").as_object();
    EXPECT_EQ(summary.at("created").as_int64(), 0) << again.out;
    EXPECT_EQ(summary.at("skipped").as_int64(), 5) << again.out;
    EXPECT_EQ(summary.at("rotated").as_int64(), 0) << again.out;
    for (const auto& row : reply.at("projects").as_array()) {
      EXPECT_EQ(Str(row, "action"), "skipped") << again.out;
      EXPECT_EQ(Str(row, "detail"), "exists, not re-delivered") << again.out;
    }
    EXPECT_EQ(FilesIn(fresh), 0u) << "nothing re-delivered into " << fresh;
  }
  EXPECT_EQ(LiveKeyIds(), live_before);
  ExpectAllWrite(keys, 201, "key still working after a re-run, ");
  // The same workspace again: skipped, delivered files untouched.
  CtlRun same = RunCtl(server_, {"keys", "provision", projects_, "--out-dir", first_dir});
  ASSERT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_NE(same.out.find("created 0, skipped 5, rotated 0, failed 0"), std::string::npos)
      << same.out;
  EXPECT_EQ(KeysIn(first_dir), keys);
}

TEST_F(ProvisionSafetyTest, RotateRedeliversAndOldKeysWorkThroughTheGrace) {
  const std::string first_dir = server_.root() + "/first";
  ASSERT_EQ(RunCtl(server_, {"keys", "provision", projects_, "--out-dir", first_dir}).exit_code, 0);
  const auto old_keys = KeysIn(first_dir);

  const std::string rotated_dir = server_.root() + "/rotated";
  CtlRun rotate =
      RunCtl(server_, {"keys", "provision", projects_, "--out-dir", rotated_dir, "--rotate"});
  ASSERT_EQ(rotate.exit_code, 0) << rotate.out << rotate.err;
  EXPECT_NE(rotate.out.find("created 0, skipped 0, rotated 5, failed 0"), std::string::npos)
      << rotate.out;
  const auto new_keys = KeysIn(rotated_dir);
  ASSERT_EQ(new_keys.size(), 5u);
  for (const auto& [project, key] : new_keys) EXPECT_NE(key, old_keys.at(project)) << project;
  ExpectAllWrite(new_keys, 201, "rotated key of ");
  ExpectAllWrite(old_keys, 201, "old key inside the default grace, ");
  EXPECT_EQ(LiveKeyIds().size(), 5u) << "one live key per project";

  // Rotating into the directory that holds the keys says it replaced them.
  CtlRun replace = RunCtl(server_, {"--output", "json", "keys", "provision", projects_, "--out-dir",
                                    rotated_dir, "--rotate", "--grace-seconds", "0"});
  ASSERT_EQ(replace.exit_code, 0) << replace.out << replace.err;
  const json::value replaced = ParseJson(replace.out);
  for (const auto& row : replaced.at("projects").as_array()) {
    EXPECT_EQ(Str(row, "detail"), "replaced " + rotated_dir + "/" + Str(row, "project") + ".env");
  }
  ExpectAllWrite(new_keys, 401, "grace 0 asked for explicitly: ");
  ExpectAllWrite(KeysIn(rotated_dir), 201, "replaced key of ");
}

TEST_F(ProvisionSafetyTest, AStaleKeyFileIsNeverOverwritten) {
  const std::string dir = server_.root() + "/keys";
  ASSERT_EQ(RunCtl(server_, {"keys", "provision", projects_, "--out-dir", dir}).exit_code, 0);
  const std::string stale = ReadFile(dir + "/proj-0.env");
  const std::string key_id = LiveKeyIds().at("project-proj-0");
  ASSERT_EQ(RunCtl(server_, {"keys", "revoke", key_id}).exit_code, 0);
  CtlRun rerun = RunCtl(server_, {"keys", "provision", projects_, "--out-dir", dir});
  EXPECT_EQ(rerun.exit_code, 1) << rerun.out << rerun.err;
  EXPECT_NE(rerun.out.find("created 0, skipped 4, rotated 0, failed 1"), std::string::npos)
      << rerun.out;
  EXPECT_NE(rerun.out.find("stale key"), std::string::npos) << rerun.out;
  EXPECT_EQ(ReadFile(dir + "/proj-0.env"), stale);
  EXPECT_FALSE(LiveKeyIds().count("project-proj-0")) << "nothing was created";
}

TEST_F(ProvisionSafetyTest, AnUndeliveredKeyIsRecoveredWithGrace) {
  // What an interrupted run leaves: a live key whose secret never reached
  // the workspace, and the run's pending marker.
  auto lost = CreateKey(*http_, server_.root_key(), "proj-0", "write_agent", "project-proj-0");
  ASSERT_TRUE(lost);
  const std::string dir = server_.root() + "/keys";
  fs::create_directories(dir);
  std::ofstream(dir + "/.proj-0.pending") << "project=proj-0\n";
  CtlRun rerun =
      RunCtl(server_, {"--output", "json", "keys", "provision", projects_, "--out-dir", dir});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  const json::value reply = ParseJson(rerun.out);
  const json::array& rows = reply.at("projects").as_array();
  EXPECT_EQ(Str(rows[0], "action"), "rotated") << rerun.out;
  EXPECT_NE(Str(rows[0], "detail").find("recovered"), std::string::npos) << rerun.out;
  EXPECT_FALSE(fs::exists(dir + "/.proj-0.pending"));
  ExpectAllWrite(KeysIn(dir), 201, "delivered key of ");
  EXPECT_EQ(WriteStatus(lost->key), 201) << "a recovery rotation keeps the grace too";
}

TEST_F(ProvisionSafetyTest, KeysRotateKeepsTheOldKeyForTheDefaultGrace) {
  auto key = CreateKey(*http_, server_.root_key(), "alpha", "write_agent", "svc");
  ASSERT_TRUE(key);
  CtlRun rotated = RunCtl(server_, {"--output", "json", "keys", "rotate", key->key_id});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  const json::value reply = ParseJson(rotated.out);
  EXPECT_EQ(WriteStatus(key->key), 201) << "old key inside the grace";
  EXPECT_EQ(WriteStatus(Str(reply, "key")), 201);
  // The old key's record ends its grace a day after the rotation.
  auto list = http_->Request("GET", "/v1/admin/api-keys", "", Auth(server_.root_key()));
  ASSERT_TRUE(list && list->status == 200);
  const json::value listed = ParseJson(list->body);
  for (const auto& k : listed.at("keys").as_array()) {
    if (Str(k, "key_id") != key->key_id) continue;
    EXPECT_EQ(Str(k, "rotated_to"), Str(reply, "key_id"));
    auto grace_end = ParseRfc3339(Str(k, "revoked_at"));
    auto rotated_at = ParseRfc3339(Str(reply, "created_at"));
    ASSERT_TRUE(grace_end && rotated_at) << list->body;
    EXPECT_EQ(*grace_end - *rotated_at, 86400LL * 1000000) << list->body;
  }
  // Immediate revocation of the old key is an explicit choice.
  CtlRun now = RunCtl(server_, {"--output", "json", "keys", "rotate", Str(reply, "key_id"),
                                "--grace-seconds", "0"});
  ASSERT_EQ(now.exit_code, 0) << now.err;
  EXPECT_EQ(WriteStatus(Str(reply, "key")), 401);
  EXPECT_EQ(WriteStatus(Str(ParseJson(now.out), "key")), 201);
}

TEST_F(ProvisionSafetyTest, BackupRoleKeysStreamBackupsAndNothingElse) {
  CtlRun created = RunCtl(
      server_, {"--output", "json", "keys", "create", "--label", "nightly", "--role", "backup"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const json::value key = ParseJson(created.out);
  EXPECT_EQ(Str(key, "role"), "backup");
  EXPECT_TRUE(key.at("project").is_null());
  const std::string secret = Str(key, "key");
  auto backup = http_->Request("GET", "/v1/admin/backup", "", Auth(secret));
  ASSERT_TRUE(backup) << Describe(backup);
  EXPECT_EQ(backup->status, 200);
  EXPECT_EQ(WriteStatus(secret), 403);
  auto keys = http_->Request("GET", "/v1/admin/api-keys", "", Auth(secret));
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->status, 403) << Describe(keys);

  CtlRun bound =
      RunCtl(server_, {"keys", "create", "--label", "b", "--role", "backup", "--project", "alpha"});
  EXPECT_EQ(bound.exit_code, 1) << bound.err;
  EXPECT_NE(bound.err.find("backup keys span all projects"), std::string::npos) << bound.err;
}

}  // namespace
}  // namespace stemedb::e2e
