// `stemectl projects delete|hold|release` and `stemectl erase` against the
// real server (docs/stemectl.md): each does what it says, bad input is a
// one-line usage error, and every command is safe to repeat.
#include <gtest/gtest.h>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"
#include "tests/stemectl/ctl_runner.h"

namespace stemedb::e2e {
namespace {

class EraseCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
    http_ = server_.Client();
    key_ = *CreateKey(*http_, server_.root_key(), "acme", "write_agent");
    for (const char* s : {"alice", "bob"}) {
      auto r = PostAssertion(*http_, key_.key, Assertion(s, "email", "x", "crm"));
      ASSERT_TRUE(r && r->status == 201) << Describe(r);
    }
  }
  size_t Count(const std::string& subject) {
    auto r = http_->Request("GET", "/v1/query?history=true&project=acme&subject=" + subject, "",
                            Auth(server_.root_key()));
    EXPECT_TRUE(r && r->status == 200) << Describe(r);
    return r ? ParseJson(r->body).at("assertions").as_array().size() : 0;
  }

  ServerProcess server_;
  std::unique_ptr<client::HttpClient> http_;
  ApiKey key_;
};

TEST_F(EraseCommandTest, EraseHoldReleaseDelete) {
  CtlRun run = RunCtl(server_, {"erase", "--project", "acme"});
  EXPECT_EQ(run.exit_code, 2) << run.err;  // neither --subject nor --agent
  run = RunCtl(server_, {"erase", "--project", "acme", "--subject", "a", "--agent", "b"});
  EXPECT_EQ(run.exit_code, 2) << run.err;

  run = RunCtl(server_, {"projects", "hold", "acme", "--subject", "alice", "--reason", "case 1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(RunCtl(server_, {"projects", "hold", "acme", "--subject", "alice"}).exit_code, 0);
  run = RunCtl(server_, {"erase", "--project", "acme", "--subject", "alice"});
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_NE(run.err.find("legal hold"), std::string::npos) << run.err;
  EXPECT_EQ(Count("alice"), 1u);

  ASSERT_EQ(RunCtl(server_, {"projects", "release", "acme", "--subject", "alice"}).exit_code, 0);
  EXPECT_EQ(RunCtl(server_, {"projects", "release", "acme", "--subject", "alice"}).exit_code, 1);
  run = RunCtl(server_, {"erase", "--project", "acme", "--subject", "alice"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("erased 1 records"), std::string::npos) << run.out;
  EXPECT_EQ(Count("alice"), 0u);
  EXPECT_EQ(Count("bob"), 1u);

  run = RunCtl(server_, {"projects", "delete", "acme", "--wait"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("acme: deleted"), std::string::npos) << run.out;
  EXPECT_EQ(Count("bob"), 0u);
  auto r = http_->Request("GET", "/v1/query?subject=bob", "", Auth(key_.key));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  // Again: nothing left to delete is not an error.
  run = RunCtl(server_, {"projects", "delete", "acme"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("does not exist"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace stemedb::e2e
