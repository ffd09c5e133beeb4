// The project registry and quotas against the real server (docs/projects.md):
// create is safe to repeat, limits are enforced exactly at the boundary for
// single and batch writes, a project at its quota does not disturb another,
// and the figures survive kill -9 (replay) and equal a recount.
#include <gtest/gtest.h>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"

namespace stemedb::e2e {
namespace {

using client::HttpResponse;

class ProjectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
    http_ = server_.Client();
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    Headers h;
    if (!body.empty()) h.push_back({"Content-Type", "application/json"});
    auto r = http_->Request(method, target, body, Auth(server_.root_key(), h));
    EXPECT_TRUE(r) << Describe(r);
    return r ? *r : HttpResponse{};
  }
  HttpResponse Create(const json::object& body) {
    return Call("POST", "/v1/admin/projects", Serialize(body));
  }
  json::object Project(const std::string& project) {
    HttpResponse r = Call("GET", "/v1/admin/projects/" + project);
    EXPECT_EQ(r.status, 200) << Describe(r);
    return ParseJson(r.body).as_object();
  }
  static int64_t Int(const json::object& o, const char* field) {
    return o.at(field).to_number<int64_t>();
  }
  // POST /v1/assert/batch of `n` assertions (same shape each) with `key`.
  HttpResponse WriteBatch(const std::string& key, size_t n, const std::string& subject = "s") {
    json::array list;
    for (size_t i = 0; i < n; ++i) list.push_back(Assertion(subject, "p", 1, "agent"));
    auto r =
        http_->Request("POST", "/v1/assert/batch", Serialize(json::object{{"assertions", list}}),
                       Auth(key, {{"Content-Type", "application/json"}}));
    EXPECT_TRUE(r) << Describe(r);
    return r ? *r : HttpResponse{};
  }
  HttpResponse WriteOne(const std::string& key, const std::string& subject = "s") {
    auto r = PostAssertion(*http_, key, Assertion(subject, "p", 1, "agent"));
    EXPECT_TRUE(r) << Describe(r);
    return r ? *r : HttpResponse{};
  }
  size_t CountStored(const std::string& key, const std::string& subject = "s") {
    auto r = http_->Request("GET", "/v1/query?history=true&limit=1000&subject=" + subject, "",
                            Auth(key));
    EXPECT_TRUE(r && r->status == 200) << Describe(r);
    return r ? ParseJson(r->body).at("assertions").as_array().size() : 0;
  }
  static void ExpectQuotaExceeded(const HttpResponse& r, const std::string& quota, int64_t limit,
                                  int64_t current) {
    EXPECT_EQ(r.status, 403) << Describe(r);
    EXPECT_EQ(ErrorCode(r), "quota_exceeded") << Describe(r);
    json::object e = ParseJson(r.body).at("error").as_object();
    EXPECT_EQ(Str(e, "quota"), quota) << r.body;
    EXPECT_EQ(Int(e, "limit"), limit) << r.body;
    EXPECT_EQ(Int(e, "current"), current) << r.body;
  }

  ServerProcess server_;
  std::unique_ptr<client::HttpClient> http_;
};

TEST_F(ProjectsTest, CreateIsSafeToRepeatAndUpdateIsPatch) {
  HttpResponse r = Create({{"project", "alpha"}, {"max_assertions", 10}});
  ASSERT_EQ(r.status, 201) << Describe(r);
  json::object p = ParseJson(r.body).as_object();
  EXPECT_EQ(Str(p, "project"), "alpha");
  EXPECT_EQ(Int(p, "max_assertions"), 10);
  EXPECT_EQ(Int(p, "max_bytes"), 0);
  EXPECT_EQ(Int(p, "assertions"), 0);
  EXPECT_TRUE(p.at("last_write_at").is_null());

  // The same create again (or with no limits at all): 200, nothing changes.
  EXPECT_EQ(Create({{"project", "alpha"}, {"max_assertions", 10}}).status, 200);
  EXPECT_EQ(Create({{"project", "alpha"}}).status, 200);
  // Other limits are an update: 409 pointing at PATCH.
  r = Create({{"project", "alpha"}, {"max_assertions", 11}});
  EXPECT_EQ(r.status, 409) << Describe(r);
  EXPECT_NE(r.body.find("PATCH"), std::string::npos) << r.body;
  EXPECT_EQ(Int(Project("alpha"), "max_assertions"), 10);

  r = Call("PATCH", "/v1/admin/projects/alpha",
           Serialize(json::object{{"max_bytes", 4096}, {"retain_days", 30}}));
  ASSERT_EQ(r.status, 200) << Describe(r);
  p = Project("alpha");
  EXPECT_EQ(Int(p, "max_assertions"), 10);
  EXPECT_EQ(Int(p, "max_bytes"), 4096);
  EXPECT_EQ(Int(p, "retain_days"), 30);

  // Bad input: clear errors, nothing written.
  EXPECT_EQ(Create({{"project", "Not_A_Label"}}).status, 400);
  EXPECT_EQ(Create({{"project", "beta"}, {"max_bytes", -1}}).status, 400);
  EXPECT_EQ(
      Call("PATCH", "/v1/admin/projects/nope", Serialize(json::object{{"max_bytes", 1}})).status,
      404);
  EXPECT_EQ(Call("GET", "/v1/admin/projects/nope").status, 404);

  // Listed with its live figures and keys; a key registers its project.
  ASSERT_TRUE(CreateKey(*http_, server_.root_key(), "alpha", "write_agent"));
  auto gamma = CreateKey(*http_, server_.root_key(), "gamma", "write_agent");
  ASSERT_TRUE(gamma);
  ASSERT_EQ(WriteOne(gamma->key).status, 201);
  r = Call("GET", "/v1/admin/projects");
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::array list = ParseJson(r.body).at("projects").as_array();
  ASSERT_EQ(list.size(), 2u) << r.body;
  EXPECT_EQ(Str(list[0], "project"), "alpha");
  EXPECT_EQ(Int(list[0].as_object(), "keys"), 1);
  EXPECT_EQ(Str(list[1], "project"), "gamma");
  EXPECT_EQ(Int(list[1].as_object(), "assertions"), 1);
  EXPECT_GT(Int(list[1].as_object(), "stored_bytes"), 0);
  EXPECT_FALSE(list[1].at("last_write_at").is_null());

  // Audited: who created and updated what.
  r = Call("GET", "/v1/admin/audit?limit=50");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"project.create\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"project.update\""), std::string::npos) << r.body;
}

TEST_F(ProjectsTest, AssertionQuotaIsExactAtTheBoundaryForSingleAndBatchWrites) {
  ASSERT_EQ(Create({{"project", "alpha"}, {"max_assertions", 5}}).status, 201);
  auto key = CreateKey(*http_, server_.root_key(), "alpha", "write_agent");
  ASSERT_TRUE(key);
  ASSERT_EQ(WriteBatch(key->key, 3).status, 201);
  // A batch straddling the limit (3 + 3 > 5) writes nothing.
  ExpectQuotaExceeded(WriteBatch(key->key, 3), "max_assertions", 5, 3);
  EXPECT_EQ(CountStored(key->key), 3u);
  // Up to the limit exactly: allowed.
  ASSERT_EQ(WriteBatch(key->key, 2).status, 201);
  EXPECT_EQ(Int(Project("alpha"), "assertions"), 5);
  ExpectQuotaExceeded(WriteOne(key->key), "max_assertions", 5, 5);
  EXPECT_EQ(CountStored(key->key), 5u);
  // Reads and retractions still work at the quota.
  auto q = http_->Request("GET", "/v1/query?subject=s", "", Auth(key->key));
  ASSERT_TRUE(q && q->status == 200);
  const std::string id = Str(ParseJson(q->body).at("assertions").as_array()[0], "id");
  auto retract = http_->Request("POST", "/v1/retract", Serialize(json::object{{"id", id}}),
                                Auth(key->key, {{"Content-Type", "application/json"}}));
  ASSERT_TRUE(retract);
  EXPECT_EQ(retract->status, 201) << Describe(retract);
  // Raising the limit lets writes in again.
  ASSERT_EQ(
      Call("PATCH", "/v1/admin/projects/alpha", Serialize(json::object{{"max_assertions", 6}}))
          .status,
      200);
  EXPECT_EQ(WriteOne(key->key).status, 201);
}

TEST_F(ProjectsTest, ByteQuotaIsExactAtTheBoundary) {
  ASSERT_EQ(Create({{"project", "alpha"}}).status, 201);
  auto key = CreateKey(*http_, server_.root_key(), "alpha", "write_agent");
  ASSERT_TRUE(key);
  ASSERT_EQ(WriteOne(key->key).status, 201);
  const int64_t bytes = Int(Project("alpha"), "stored_bytes");
  ASSERT_EQ(
      Call("PATCH", "/v1/admin/projects/alpha", Serialize(json::object{{"max_bytes", bytes + 1}}))
          .status,
      200);
  HttpResponse r = WriteOne(key->key);
  ExpectQuotaExceeded(r, "max_bytes", bytes + 1, bytes);
  const int64_t adding = Int(ParseJson(r.body).at("error").as_object(), "adding");
  EXPECT_GT(adding, 1);
  // A limit of exactly current + what the write adds lets it in.
  ASSERT_EQ(Call("PATCH", "/v1/admin/projects/alpha",
                 Serialize(json::object{{"max_bytes", bytes + adding}}))
                .status,
            200);
  ASSERT_EQ(WriteOne(key->key).status, 201) << "same shape, same size";
  EXPECT_EQ(Int(Project("alpha"), "stored_bytes"), bytes + adding);
  ExpectQuotaExceeded(WriteOne(key->key), "max_bytes", bytes + adding, bytes + adding);
}

TEST_F(ProjectsTest, ANoisyProjectAtItsQuotaLeavesAnotherAlone) {
  ASSERT_EQ(Create({{"project", "noisy"}, {"max_assertions", 10}}).status, 201);
  ASSERT_EQ(Create({{"project", "calm"}}).status, 201);
  auto noisy = CreateKey(*http_, server_.root_key(), "noisy", "write_agent");
  auto calm = CreateKey(*http_, server_.root_key(), "calm", "write_agent");
  ASSERT_TRUE(noisy && calm);
  size_t noisy_refused = 0, calm_refused = 0;
  for (int i = 0; i < 40; ++i) {
    if (WriteBatch(noisy->key, 2).status != 201) ++noisy_refused;
    if (WriteBatch(calm->key, 2).status != 201) ++calm_refused;
  }
  EXPECT_EQ(noisy_refused, 35u);
  EXPECT_EQ(calm_refused, 0u);
  EXPECT_EQ(Int(Project("noisy"), "assertions"), 10);
  EXPECT_EQ(Int(Project("calm"), "assertions"), 80);
}

TEST_F(ProjectsTest, FiguresSurviveKill9AndEqualARecount) {
  ASSERT_EQ(Create({{"project", "alpha"}, {"max_assertions", 30}}).status, 201);
  auto a = CreateKey(*http_, server_.root_key(), "alpha", "write_agent");
  auto b = CreateKey(*http_, server_.root_key(), "beta", "write_agent");
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(WriteBatch(a->key, 5, "s" + std::to_string(i)).status, 201);
    ASSERT_EQ(WriteOne(b->key, "t" + std::to_string(i)).status, 201);
  }
  auto q = http_->Request("GET", "/v1/query?subject=s0", "", Auth(a->key));
  ASSERT_TRUE(q && q->status == 200);
  const std::string id = Str(ParseJson(q->body).at("assertions").as_array()[0], "id");
  auto retract = http_->Request("POST", "/v1/retract", Serialize(json::object{{"id", id}}),
                                Auth(a->key, {{"Content-Type", "application/json"}}));
  ASSERT_TRUE(retract && retract->status == 201) << Describe(retract);
  ExpectQuotaExceeded(WriteBatch(a->key, 6), "max_assertions", 30, 25);
  const json::object alpha = Project("alpha");
  const json::object beta = Project("beta");

  server_.Kill();
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  for (const auto& [name, before] : {std::pair{"alpha", alpha}, std::pair{"beta", beta}}) {
    SCOPED_TRACE(name);
    const json::object after = Project(name);
    EXPECT_EQ(Int(after, "assertions"), Int(before, "assertions"));
    EXPECT_EQ(Int(after, "stored_bytes"), Int(before, "stored_bytes"));
    EXPECT_EQ(Str(after, "last_write_at"), Str(before, "last_write_at"));
    HttpResponse r = Call("POST", std::string("/v1/admin/projects/") + name + "/recount");
    ASSERT_EQ(r.status, 200) << Describe(r);
    json::object rc = ParseJson(r.body).as_object();
    EXPECT_TRUE(rc.at("consistent").as_bool()) << r.body;
    EXPECT_EQ(Int(rc.at("counted").as_object(), "stored_bytes"), Int(before, "stored_bytes"));
    EXPECT_EQ(Int(rc.at("counted").as_object(), "assertions"), Int(before, "assertions"));
  }
  EXPECT_EQ(Int(alpha, "assertions"), 25);
  // The limit is enforced after the restart as before it.
  ExpectQuotaExceeded(WriteBatch(a->key, 6), "max_assertions", 30, 25);
  EXPECT_EQ(WriteBatch(a->key, 5).status, 201);
}

TEST_F(ProjectsTest, MetricsShowFiguresAndLimits) {
  ASSERT_EQ(Create({{"project", "alpha"}, {"max_bytes", 1000000}}).status, 201);
  auto a = CreateKey(*http_, server_.root_key(), "alpha", "write_agent");
  ASSERT_TRUE(a);
  ASSERT_EQ(WriteOne(a->key).status, 201);
  const int64_t bytes = Int(Project("alpha"), "stored_bytes");
  auto m = http_->Request("GET", "/metrics", "", {});
  ASSERT_TRUE(m && m->status == 200);
  EXPECT_NE(
      m->body.find("stemedb_project_stored_bytes{project=\"alpha\"} " + std::to_string(bytes)),
      std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("stemedb_project_max_bytes{project=\"alpha\"} 1000000"),
            std::string::npos);
  EXPECT_NE(m->body.find("stemedb_project_assertions{project=\"alpha\"} 1"), std::string::npos);
}

TEST_F(ProjectsTest, AnAdminWriteRegistersItsProject) {
  auto r = PostAssertion(*http_, server_.root_key(), Assertion("s", "p", 1, "a"),
                         {});  // no ?project=: 400, nothing registered
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << Describe(r);
  auto w =
      http_->Request("POST", "/v1/assert?project=by-admin", Serialize(Assertion("s", "p", 1, "a")),
                     Auth(server_.root_key(), {{"Content-Type", "application/json"}}));
  ASSERT_TRUE(w);
  ASSERT_EQ(w->status, 201) << Describe(w);
  const json::object p = Project("by-admin");
  EXPECT_EQ(Int(p, "assertions"), 1);
  EXPECT_EQ(Int(p, "keys"), 0);
}

class StrictRegistryTest : public ProjectsTest {
 protected:
  void SetUp() override {
    server_.SetEnv("STEMEDB_PROJECT_REGISTRY_STRICT", "true");
    server_.SetEnv("STEMEDB_PROJECT_MAX_ASSERTIONS", "2");
    ProjectsTest::SetUp();
  }
};

TEST_F(StrictRegistryTest, KeysForAnUnknownProjectAreRefusedAndDefaultsApply) {
  auto r = http_->Request(
      "POST", "/v1/admin/api-keys",
      Serialize(json::object{{"label", "k"}, {"role", "write_agent"}, {"project", "alpha"}}),
      Auth(server_.root_key(), {{"Content-Type", "application/json"}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << Describe(r);
  EXPECT_NE(r->body.find("not registered"), std::string::npos) << r->body;
  // An admin key may name any project, but not an unregistered one.
  auto w =
      http_->Request("POST", "/v1/assert?project=alpha", Serialize(Assertion("s", "p", 1, "a")),
                     Auth(server_.root_key(), {{"Content-Type", "application/json"}}));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->status, 404) << Describe(w);
  EXPECT_EQ(Call("GET", "/v1/admin/projects/alpha").status, 404) << "nothing registered";
  ASSERT_EQ(Create({{"project", "alpha"}}).status, 201);
  EXPECT_EQ(Int(Project("alpha"), "max_assertions"), 2) << "the default resolved into the record";
  auto key = CreateKey(*http_, server_.root_key(), "alpha", "write_agent");
  ASSERT_TRUE(key);
  EXPECT_EQ(WriteBatch(key->key, 2).status, 201);
  ExpectQuotaExceeded(WriteOne(key->key), "max_assertions", 2, 2);
  // Another default after a restart changes no existing project.
  server_.Stop();
  server_.SetEnv("STEMEDB_PROJECT_MAX_ASSERTIONS", "100");
  ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
  http_ = server_.Client();
  EXPECT_EQ(Int(Project("alpha"), "max_assertions"), 2);
  ExpectQuotaExceeded(WriteOne(key->key), "max_assertions", 2, 2);
}

}  // namespace
}  // namespace stemedb::e2e
