#include "auth/agent_registry.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/json.hpp>

#include "auth/encoding.h"
#include "tests/auth/temp_database.h"

namespace stemedb::auth {
namespace {

using testing::kSecond;
using testing::kT0;
using testing::TempDatabase;

std::string NewPublicKey() {
  EnsureSodium();
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  return ToBase64(std::string(reinterpret_cast<char*>(pk), sizeof(pk)));
}

class AgentRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(db_.Open());
    ASSERT_NO_FATAL_FAILURE(Start());
  }
  void Start() {
    audit_ = std::make_unique<AuditLog>(db_.get());
    ASSERT_TRUE(audit_->Load().ok());
    registry_ = std::make_unique<AgentRegistry>(db_.get(), audit_.get());
    ASSERT_TRUE(registry_->Load().ok());
  }
  TempDatabase db_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<AgentRegistry> registry_;
};

TEST_F(AgentRegistryTest, RegisterSameKeyIsNoOpDifferentKeyNeedsAdmin) {
  const std::string k1 = NewPublicKey();
  const std::string k2 = NewPublicKey();
  Result<bool> r = registry_->Register("demo", "agent-1", k1, false, "writer0000000000", kT0);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(*r);
  r = registry_->Register("demo", "agent-1", k1, false, "writer0000000000", kT0 + kSecond);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(*r) << "same key again is a no-op";

  r = registry_->Register("demo", "agent-1", k2, false, "writer0000000000", kT0 + kSecond);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(registry_->Find("demo", "agent-1")->public_key_b64, k1);

  r = registry_->Register("demo", "agent-1", k2, true, "admin00000000000", kT0 + 2 * kSecond);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(*r);
  std::optional<AgentKey> found = registry_->Find("demo", "agent-1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->public_key_b64, k2);
  EXPECT_EQ(found->registered_at_us, kT0 + 2 * kSecond);

  Result<std::vector<AuditRecord>> audit = audit_->List(10, 0);
  ASSERT_TRUE(audit.has_value());
  ASSERT_EQ(audit->size(), 2u) << "no-ops and refusals are not recorded";
  EXPECT_EQ((*audit)[0].action, "agent.rekey");
  EXPECT_EQ((*audit)[0].actor_key_id, "admin00000000000");
  EXPECT_EQ((*audit)[0].target, "demo/agent-1");
  EXPECT_EQ((*audit)[1].action, "agent.register");
  EXPECT_EQ((*audit)[1].actor_key_id, "writer0000000000");
}

TEST_F(AgentRegistryTest, ProjectsAreSeparateAndSurviveRestart) {
  const std::string ka = NewPublicKey();
  const std::string kb = NewPublicKey();
  ASSERT_TRUE(*registry_->Register("alpha", "agent", ka, false, "w", kT0));
  ASSERT_TRUE(*registry_->Register("beta", "agent", kb, false, "w", kT0));
  EXPECT_FALSE(registry_->Find("gamma", "agent").has_value());
  EXPECT_FALSE(registry_->Find("alpha", "agent2").has_value());

  registry_.reset();
  audit_.reset();
  db_.Reopen();
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_EQ(registry_->Find("alpha", "agent")->public_key_b64, ka);
  EXPECT_EQ(registry_->Find("beta", "agent")->public_key_b64, kb);
  EXPECT_FALSE(*registry_->Register("alpha", "agent", ka, false, "w", kT0 + kSecond));
  EXPECT_EQ(registry_->Register("alpha", "agent", kb, false, "w", kT0).error().code(),
            Status::Code::kPermissionDenied);

  boost::json::object o =
      boost::json::parse(AgentKeyJson(*registry_->Find("alpha", "agent"))).as_object();
  EXPECT_EQ(o.at("agent_id").as_string(), "agent");
  EXPECT_EQ(o.at("project").as_string(), "alpha");
  EXPECT_EQ(o.at("public_key").as_string(), ka);
}

TEST_F(AgentRegistryTest, RejectsKeysThatAreNotEd25519PublicKeys) {
  auto code = [&](std::string_view key) {
    Result<bool> r = registry_->Register("demo", "a", key, true, "w", kT0);
    return r ? Status::Code::kOk : r.error().code();
  };
  EXPECT_EQ(code(""), Status::Code::kInvalidArgument);
  EXPECT_EQ(code("not base64"), Status::Code::kInvalidArgument);
  EXPECT_EQ(code(ToBase64(std::string(31, 'x'))), Status::Code::kInvalidArgument);
  EXPECT_EQ(code(ToBase64(std::string(64, 'x'))), Status::Code::kInvalidArgument);
  EXPECT_EQ(code(ToBase64(std::string(32, '\0'))), Status::Code::kInvalidArgument);  // small order
  EXPECT_EQ(registry_->Register("demo", "", NewPublicKey(), true, "w", kT0).error().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(registry_->Register("demo", std::string(129, 'a'), NewPublicKey(), true, "w", kT0)
                .error()
                .code(),
            Status::Code::kInvalidArgument);
  EXPECT_FALSE(registry_->Find("demo", "a").has_value());
}

}  // namespace
}  // namespace stemedb::auth
