// Project deletion, erasure and legal holds against the real server
// (docs/projects.md): a deletion interrupted by kill -9 finishes after the
// restart and nothing of the project reappears; its keys stop working at
// once; an erased subject is gone from history and as_of reads and the audit
// trail does not hold it; a hold suspends erasure and deletion.
#include <gtest/gtest.h>

#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"

namespace stemedb::e2e {
namespace {

using client::HttpResponse;

class ProjectErasureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
    http_ = server_.Client();
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& key = "") {
    Headers h;
    if (!body.empty()) h.push_back({"Content-Type", "application/json"});
    auto r = http_->Request(method, target, body, Auth(key.empty() ? server_.root_key() : key, h));
    EXPECT_TRUE(r) << Describe(r);
    return r ? *r : HttpResponse{};
  }
  // `n` assertions about subjects s0..s9 of `project`, 1000 per batch.
  void Fill(const std::string& key, int n) {
    for (int base = 0; base < n; base += 1000) {
      json::array list;
      for (int i = base; i < std::min(n, base + 1000); ++i) {
        list.push_back(Assertion("s" + std::to_string(i % 10), "p", i, "agent"));
      }
      HttpResponse r =
          Call("POST", "/v1/assert/batch", Serialize(json::object{{"assertions", list}}), key);
      ASSERT_EQ(r.status, 201) << Describe(r);
    }
  }
  // Every version about `subject` in `project` (admin key), as of `as_of` if > 0.
  size_t History(const std::string& project, const std::string& subject, int64_t as_of = 0) {
    std::string target =
        "/v1/query?history=true&limit=1000&project=" + project + "&subject=" + subject;
    if (as_of > 0) target += "&as_of=lsn:" + std::to_string(as_of);
    size_t n = 0;
    std::string cursor;
    for (;;) {
      HttpResponse r = Call("GET", cursor.empty() ? target : target + "&cursor=" + cursor);
      EXPECT_EQ(r.status, 200) << Describe(r);
      if (r.status != 200) return n;
      json::value page = ParseJson(r.body);
      n += page.at("assertions").as_array().size();
      if (!page.at("next_cursor").is_string()) return n;
      cursor = std::string(page.at("next_cursor").as_string());
    }
  }
  std::string AuditText() {
    HttpResponse r = Call("GET", "/v1/admin/audit?limit=1000");
    EXPECT_EQ(r.status, 200) << Describe(r);
    return r.body;
  }

  ServerProcess server_;
  std::unique_ptr<client::HttpClient> http_;
};

TEST_F(ProjectErasureTest, DeleteSurvivesKill9MidDeleteAndNothingReappears) {
  auto doomed = CreateKey(*http_, server_.root_key(), "doomed", "write_agent");
  auto keeper = CreateKey(*http_, server_.root_key(), "keeper", "write_agent");
  ASSERT_TRUE(doomed && keeper);
  Fill(doomed->key, 30000);
  Fill(keeper->key, 20);
  // An idempotency record of the project: must not answer a retry later.
  HttpResponse idem =
      Call("POST", "/v1/assert", Serialize(Assertion("s0", "p", 1, "agent")), doomed->key);
  ASSERT_EQ(idem.status, 201);
  ASSERT_EQ(History("doomed", "s0"), 3001u);

  HttpResponse del = Call("DELETE", "/v1/admin/projects/doomed");
  ASSERT_EQ(del.status, 202) << Describe(del);
  EXPECT_EQ(Str(ParseJson(del.body), "status"), "deleting");
  // Effective at once: the key no longer authenticates, reads are empty.
  EXPECT_EQ(Call("GET", "/v1/query?subject=s0", "", doomed->key).status, 401);
  EXPECT_EQ(History("doomed", "s0"), 0u);
  server_.Kill();  // kill -9 while the purge steps run

  ASSERT_TRUE(server_.Restart().ok()) << server_.Stderr();
  http_ = server_.Client();
  // The deletion was interrupted and is carried on by the restarted server.
  EXPECT_NE(server_.StderrSinceStart().find("resuming deletion of project"), std::string::npos)
      << server_.StderrSinceStart();
  EXPECT_EQ(History("doomed", "s0"), 0u);
  // A repeated DELETE is safe: 202 while it runs, then a clear 404.
  int status = 0;
  for (int i = 0; i < 600 && status != 404; ++i) {
    HttpResponse again = Call("DELETE", "/v1/admin/projects/doomed");
    status = again.status;
    ASSERT_TRUE(status == 202 || status == 404) << Describe(again);
    if (status == 202) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(status, 404);
  EXPECT_EQ(ErrorCode(Call("DELETE", "/v1/admin/projects/doomed")), "not_found");

  // After another kill -9, still nothing of it; the other project untouched.
  server_.Kill();
  ASSERT_TRUE(server_.Restart().ok()) << server_.Stderr();
  http_ = server_.Client();
  for (int s = 0; s < 10; ++s) EXPECT_EQ(History("doomed", "s" + std::to_string(s)), 0u);
  EXPECT_EQ(Call("GET", "/v1/query?subject=s0", "", doomed->key).status, 401);
  EXPECT_EQ(History("keeper", "s0"), 2u);
  EXPECT_EQ(Call("GET", "/v1/admin/projects/doomed").status, 404);
  EXPECT_NE(AuditText().find("\"project.delete\""), std::string::npos);
}

TEST_F(ProjectErasureTest, ErasedSubjectIsGoneFromHistoryAndAsOfAndNotInTheAudit) {
  auto key = CreateKey(*http_, server_.root_key(), "crm", "write_agent");
  ASSERT_TRUE(key);
  const std::string person = "alice-at-example-com";
  HttpResponse v1 =
      Call("POST", "/v1/assert", Serialize(Assertion(person, "email", "a@x", "agent")), key->key);
  ASSERT_EQ(v1.status, 201);
  const json::value first = ParseJson(v1.body);
  const int64_t lsn1 = first.at("lsn").to_number<int64_t>();
  ASSERT_EQ(
      Call("POST", "/v1/assert", Serialize(Assertion(person, "email", "b@x", "agent")), key->key)
          .status,
      201);
  ASSERT_EQ(Call("POST", "/v1/retract", Serialize(json::object{{"id", Str(first, "id")}}), key->key)
                .status,
            201);
  ASSERT_EQ(
      Call("POST", "/v1/assert", Serialize(Assertion("bob", "email", "c@x", "agent")), key->key)
          .status,
      201);
  ASSERT_EQ(History("crm", person, lsn1), 1u);
  ASSERT_EQ(History("crm", person), 2u);

  HttpResponse r =
      Call("POST", "/v1/admin/projects/crm/erase", Serialize(json::object{{"subject", person}}));
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::value out = ParseJson(r.body);
  EXPECT_EQ(out.at("removed").to_number<int64_t>(), 3);  // two versions and the retraction
  EXPECT_EQ(History("crm", person, lsn1), 0u);
  EXPECT_EQ(History("crm", person), 0u);
  EXPECT_EQ(Call("GET", "/v1/assertions/" + Str(first, "id"), "", key->key).status, 404);
  EXPECT_EQ(History("crm", "bob"), 1u);
  // Audited with the selector's kind and hash, never its value.
  const std::string audit = AuditText();
  EXPECT_NE(audit.find("\"project.erase\""), std::string::npos) << audit;
  EXPECT_NE(audit.find(Str(out, "selector_hash")), std::string::npos) << audit;
  EXPECT_EQ(audit.find(person), std::string::npos) << audit;
  // Safe to repeat; survives a kill -9 (replay erases again, nothing returns).
  r = Call("POST", "/v1/admin/projects/crm/erase", Serialize(json::object{{"subject", person}}));
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(ParseJson(r.body).at("removed").to_number<int64_t>(), 0);
  server_.Kill();
  ASSERT_TRUE(server_.Restart().ok()) << server_.Stderr();
  http_ = server_.Client();
  EXPECT_EQ(History("crm", person, lsn1), 0u);
  EXPECT_EQ(History("crm", person), 0u);
  EXPECT_EQ(History("crm", "bob"), 1u);

  // By agent; bad selectors are clear 400s.
  r = Call("POST", "/v1/admin/projects/crm/erase", Serialize(json::object{{"agent_id", "agent"}}));
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(History("crm", "bob"), 0u);
  EXPECT_EQ(Call("POST", "/v1/admin/projects/crm/erase", "{}").status, 400);
  EXPECT_EQ(Call("POST", "/v1/admin/projects/crm/erase",
                 Serialize(json::object{{"subject", "a"}, {"agent_id", "b"}}))
                .status,
            400);
}

TEST_F(ProjectErasureTest, LegalHoldSuspendsErasureAndDeletion) {
  auto key = CreateKey(*http_, server_.root_key(), "legal", "write_agent");
  ASSERT_TRUE(key);
  for (const char* s : {"held", "free"}) {
    ASSERT_EQ(Call("POST", "/v1/assert", Serialize(Assertion(s, "p", 1, "agent")), key->key).status,
              201);
  }
  const std::string holds = "/v1/admin/projects/legal/holds";
  HttpResponse r = Call("POST", holds, Serialize(json::object{{"subject", "held"}}));
  ASSERT_EQ(r.status, 201) << Describe(r);
  EXPECT_EQ(Call("POST", holds, Serialize(json::object{{"subject", "held"}})).status, 200);

  r = Call("POST", "/v1/admin/projects/legal/erase", Serialize(json::object{{"subject", "held"}}));
  EXPECT_EQ(r.status, 409) << Describe(r);
  EXPECT_NE(r.body.find("legal hold"), std::string::npos) << r.body;
  EXPECT_EQ(History("legal", "held"), 1u);
  // An agent's erasure keeps what a held subject covers, and says so.
  r = Call("POST", "/v1/admin/projects/legal/erase",
           Serialize(json::object{{"agent_id", "agent"}}));
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(ParseJson(r.body).at("kept_under_hold").to_number<int64_t>(), 1);
  EXPECT_EQ(History("legal", "held"), 1u);
  EXPECT_EQ(History("legal", "free"), 0u);

  ASSERT_EQ(Call("POST", holds, "").status, 201);  // the whole project
  r = Call("DELETE", "/v1/admin/projects/legal");
  EXPECT_EQ(r.status, 409) << Describe(r);
  EXPECT_EQ(Call("GET", "/v1/query?subject=held", "", key->key).status, 200);
  HttpResponse list = Call("GET", holds);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(ParseJson(list.body).at("holds").as_array().size(), 2u) << list.body;

  EXPECT_EQ(Call("DELETE", holds).status, 200);
  EXPECT_EQ(Call("DELETE", holds).status, 404);
  EXPECT_EQ(Call("DELETE", holds + "?subject=held").status, 200);
  r = Call("POST", "/v1/admin/projects/legal/erase", Serialize(json::object{{"subject", "held"}}));
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(History("legal", "held"), 0u);
  const std::string audit = AuditText();
  EXPECT_NE(audit.find("\"hold.place\""), std::string::npos);
  EXPECT_NE(audit.find("\"hold.release\""), std::string::npos);
}

}  // namespace
}  // namespace stemedb::e2e
