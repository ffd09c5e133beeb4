// One definition of a project name (auth/project_name.h) at every door of
// the real server: a key cannot be minted for a project that the data routes
// refuse, and both refuse with the documented 400 invalid_field "project".
#include <gtest/gtest.h>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"

namespace stemedb::e2e {
namespace {

class ProjectNameTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
    http_ = server_.Client();
  }

  client::HttpResponse CreateKeyFor(const json::object& body) {
    auto r = http_->Request("POST", "/v1/admin/api-keys", Serialize(body),
                            Auth(server_.root_key(), {{"Content-Type", "application/json"}}));
    EXPECT_TRUE(r) << Describe(r);
    return r ? *r : client::HttpResponse{};
  }

  static void ExpectInvalidField(const client::HttpResponse& r, const std::string& field,
                                 const std::string& message_part) {
    EXPECT_EQ(r.status, 400) << Describe(r);
    EXPECT_EQ(ErrorCode(r), "invalid_field") << Describe(r);
    json::value error = ParseJson(r.body).at("error");
    EXPECT_EQ(Str(error, "field"), field) << r.body;
    EXPECT_NE(Str(error, "message").find(message_part), std::string::npos) << r.body;
  }

  ServerProcess server_;
  std::unique_ptr<client::HttpClient> http_;
};

TEST_F(ProjectNameTest, KeyCreationRefusesEveryNameOutsideTheRule) {
  for (const std::string& bad : std::vector<std::string>{
           ".x", "Foo", "a_b", "team-a.prod_1", "-a", "a-", "caf\xc3\xa9", std::string(64, 'x')}) {
    SCOPED_TRACE(bad);
    ExpectInvalidField(CreateKeyFor({{"label", "k"}, {"role", "write_agent"}, {"project", bad}}),
                       "project", "must be a DNS label");
  }
  auto listed = http_->Request("GET", "/v1/admin/api-keys", "", Auth(server_.root_key()));
  ASSERT_TRUE(listed && listed->status == 200);
  EXPECT_EQ(ParseJson(listed->body).at("keys").as_array().size(), 1u) << "only the root key";

  // The names the docs and manifests use pass, and their keys write.
  for (const std::string& good :
       std::vector<std::string>{"default", "alpha", "proj-0", std::string(63, 'x')}) {
    auto key = CreateKey(*http_, server_.root_key(), good, "write_agent");
    ASSERT_TRUE(key) << good;
    auto w = PostAssertion(*http_, key->key, Assertion("s", "p", 1, "a"));
    ASSERT_TRUE(w);
    EXPECT_EQ(w->status, 201) << good << ": " << Describe(w);
  }
}

TEST_F(ProjectNameTest, DataRoutesApplyTheSameRule) {
  for (const char* bad : {".x", "Foo", "a_b"}) {
    SCOPED_TRACE(bad);
    auto r = http_->Request("GET", std::string("/v1/query?subject=s&project=") + bad, "",
                            Auth(server_.root_key()));
    ASSERT_TRUE(r);
    ExpectInvalidField(*r, "project", "must be a DNS label");
  }
}

TEST_F(ProjectNameTest, RolesAndTheirProjects) {
  ExpectInvalidField(CreateKeyFor({{"label", "k"}, {"role", "superuser"}, {"project", "a"}}),
                     "role", "backup");
  ExpectInvalidField(CreateKeyFor({{"label", "k"}, {"role", "backup"}, {"project", "a"}}),
                     "project", "span all projects");
  ExpectInvalidField(CreateKeyFor({{"label", "k"}, {"role", "read_only"}}), "project", "required");
  auto backup = CreateKeyFor({{"label", "k"}, {"role", "backup"}});
  EXPECT_EQ(backup.status, 201) << Describe(backup);
  EXPECT_EQ(Str(ParseJson(backup.body), "role"), "backup");
}

}  // namespace
}  // namespace stemedb::e2e
