// The authorization matrix of issue 4 against the real binary: every route
// of docs/api.md × every kind of caller (including the least-privilege
// backup role), each cell with its expected status.
// Project alpha holds a secret marker; no reply to a caller outside alpha,
// and no refusal to anyone, may contain it (nor any key).
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"

namespace stemedb::e2e {
namespace {

using client::HttpResponse;

constexpr const char* kSecret = "alpha-secret-7f3a";

enum Caller {
  kNone,
  kMalformed,
  kUnknown,
  kRevoked,
  kRotatedAway,
  kBackupKey,
  kReadOnlyA,
  kWriterA,
  kWriterB,
  kAdmin,
  kCallerCount
};
const char* const kCallerNames[] = {
    "no key", "malformed key",      "unknown key",     "revoked",        "rotated-away",
    "backup", "read_only of alpha", "writer of alpha", "writer of beta", "admin"};

struct Request {
  std::string method, target, body;
  std::string content_type = "application/json";  // with a body
};

class AuthMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
    http_ = server_.Client();
    root_ = server_.root_key();
    auto ro = CreateKey(*http_, root_, "alpha", "read_only");
    auto wa = CreateKey(*http_, root_, "alpha", "write_agent");
    auto wb = CreateKey(*http_, root_, "beta", "write_agent");
    auto revoked = CreateKey(*http_, root_, "alpha", "write_agent", "to-revoke");
    auto rotated = CreateKey(*http_, root_, "alpha", "write_agent", "to-rotate");
    ASSERT_TRUE(ro && wa && wb && revoked && rotated);
    auto backup =
        http_->Request("POST", "/v1/admin/api-keys", R"({"label":"nightly","role":"backup"})",
                       Auth(root_, {{"Content-Type", "application/json"}}));
    ASSERT_TRUE(backup && backup->status == 201) << Describe(backup);
    auto del = http_->Request("DELETE", "/v1/admin/api-keys/" + revoked->key_id, "", Auth(root_));
    ASSERT_TRUE(del && del->status / 100 == 2) << Describe(del);
    auto rot = http_->Request("POST", "/v1/admin/api-keys/" + rotated->key_id + "/rotate", "{}",
                              Auth(root_, {{"Content-Type", "application/json"}}));
    ASSERT_TRUE(rot && rot->status == 201) << Describe(rot);
    keys_[kNone] = "";
    keys_[kMalformed] = "steme_live_nothex!";
    keys_[kUnknown] = NewKeyString();
    keys_[kRevoked] = revoked->key;
    keys_[kRotatedAway] = rotated->key;
    keys_[kBackupKey] = Str(ParseJson(backup->body), "key");
    keys_[kReadOnlyA] = ro->key;
    keys_[kWriterA] = wa->key;
    keys_[kWriterB] = wb->key;
    keys_[kAdmin] = root_;
    // The secret of project alpha.
    auto w = PostAssertion(*http_, wa->key, Assertion("vault", "code", json::string(kSecret), "a"));
    ASSERT_TRUE(w && w->status == 201) << Describe(w);
    secret_id_ = Str(ParseJson(w->body), "id");
  }

  // A fresh assertion id in alpha (retractions consume one each).
  std::string FreshAlphaId() {
    auto w = PostAssertion(*http_, keys_[kWriterA], Assertion("tmp", "p", 1, "a"));
    EXPECT_TRUE(w && w->status == 201) << Describe(w);
    return w ? Str(ParseJson(w->body), "id") : "";
  }
  // A fresh id for an import line (each call brings a record of its own).
  std::string NextImportId() {
    char id[33];
    std::snprintf(id, sizeof id, "%032x", ++import_seq_);
    return id;
  }
  // A fresh key to revoke or rotate (those routes consume one each).
  std::string FreshKeyId() {
    auto k = CreateKey(*http_, root_, "alpha", "read_only", "victim");
    EXPECT_TRUE(k);
    return k ? k->key_id : "";
  }

  HttpResponse Call(Caller who, const Request& r) {
    Headers h;
    if (!keys_[who].empty()) h.emplace_back("X-API-Key", keys_[who]);
    if (!r.body.empty()) h.emplace_back("Content-Type", r.content_type);
    auto res = http_->Request(r.method, r.target, r.body, h);
    EXPECT_TRUE(res) << r.method << " " << r.target;
    return res ? *res : HttpResponse{};
  }

  ServerProcess server_;
  std::unique_ptr<client::HttpClient> http_;
  std::string root_;
  std::string keys_[kCallerCount];
  std::string secret_id_;
  int agent_seq_ = 0;
  unsigned import_seq_ = 0;
};

TEST_F(AuthMatrixTest, EveryRouteTimesEveryCaller) {
  // Admin data calls name the project; others may not name another one.
  auto proj = [](Caller who) { return who == kAdmin ? std::string("?project=alpha") : ""; };
  auto assertion = [](const std::string& subject) {
    return Serialize(Assertion(subject, "p", 1, "agent-x"));
  };
  struct Route {
    std::string name;
    std::function<Request(Caller)> make;
    // Expected status for the callers that pass authentication.
    int read_only, writer_a, writer_b, admin, backup;
  };
  std::vector<Route> routes = {
      {"POST /v1/assert",
       [&](Caller c) {
         return Request{"POST", "/v1/assert" + proj(c), assertion("m")};
       },
       403, 201, 201, 201, 403},
      {"POST /v1/assert/batch",
       [&](Caller c) {
         return Request{"POST", "/v1/assert/batch" + proj(c),
                        "{\"assertions\":[" + assertion("m1") + "," + assertion("m2") + "]}"};
       },
       403, 201, 201, 201, 403},
      {"POST /v1/retract (alpha's id)",
       [&](Caller c) {
         return Request{"POST", "/v1/retract" + proj(c),
                        Serialize(json::object{{"id", FreshAlphaId()}})};
       },
       403, 201, 404, 201, 403},
      {"GET /v1/assertions/{alpha's id}",
       [&](Caller c) {
         return Request{"GET", "/v1/assertions/" + secret_id_ + proj(c), ""};
       },
       200, 200, 404, 200, 403},
      {"GET /v1/query",
       [&](Caller c) {
         std::string q = "/v1/query?subject=vault";
         if (c == kAdmin) q += "&project=alpha";
         return Request{"GET", q, ""};
       },
       200, 200, 200, 200, 403},
      {"GET /v1/beliefs",
       [&](Caller c) {
         std::string q = "/v1/beliefs?subject=vault";
         if (c == kAdmin) q += "&project=alpha";
         return Request{"GET", q, ""};
       },
       200, 200, 200, 200, 403},
      {"POST /v1/agents",
       [&](Caller c) {
         return Request{"POST", "/v1/agents" + proj(c),
                        Serialize(json::object{
                            {"agent_id", "agent-" + std::to_string(++agent_seq_)},
                            {"public_key", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}})};
       },
       403, 201, 201, 201, 403},
      {"GET /v1/usage",
       [&](Caller) {
         return Request{"GET", "/v1/usage", ""};
       },
       200, 200, 200, 200, 403},
      {"POST /v1/admin/api-keys",
       [&](Caller) {
         return Request{"POST", "/v1/admin/api-keys",
                        R"({"label":"m","role":"read_only","project":"alpha"})"};
       },
       403, 403, 403, 201, 403},
      {"GET /v1/admin/api-keys",
       [&](Caller) {
         return Request{"GET", "/v1/admin/api-keys", ""};
       },
       403, 403, 403, 200, 403},
      {"DELETE /v1/admin/api-keys/{id}",
       [&](Caller) {
         return Request{"DELETE", "/v1/admin/api-keys/" + FreshKeyId(), ""};
       },
       403, 403, 403, 200, 403},
      {"POST /v1/admin/api-keys/{id}/rotate",
       [&](Caller) {
         return Request{"POST", "/v1/admin/api-keys/" + FreshKeyId() + "/rotate", "{}"};
       },
       403, 403, 403, 201, 403},
      {"GET /v1/admin/usage",
       [&](Caller) {
         return Request{"GET", "/v1/admin/usage", ""};
       },
       403, 403, 403, 200, 403},
      {"GET /v1/admin/audit",
       [&](Caller) {
         return Request{"GET", "/v1/admin/audit", ""};
       },
       403, 403, 403, 200, 403},
      {"GET /v1/admin/backup",
       [&](Caller) {
         return Request{"GET", "/v1/admin/backup", ""};
       },
       403, 403, 403, 200, 200},
      // Export and import hand out and take in a whole project: admin only.
      {"GET /v1/admin/projects/{alpha}/export",
       [&](Caller) {
         return Request{"GET", "/v1/admin/projects/alpha/export", ""};
       },
       403, 403, 403, 200, 403},
      {"POST /v1/admin/projects/{gamma}/import",
       [&](Caller) {
         json::object line = Assertion("imported", "p", 1, "agent-x");
         line["id"] = NextImportId();
         line["signed"] = false;
         line["lsn"] = 1;
         line["recorded_at"] = "2026-12-01T00:00:00Z";
         return Request{"POST", "/v1/admin/projects/gamma/import",
                        R"({"stemedb_export":1,"project":"gamma","as_of_lsn":1})"
                        "\n" +
                            Serialize(line) + "\n",
                        "application/x-ndjson"};
       },
       403, 403, 403, 200, 403},
  };

  int cells = 0;
  for (const Route& route : routes) {
    for (int c = 0; c < kCallerCount; ++c) {
      Caller who = static_cast<Caller>(c);
      int want = 401;
      switch (who) {
        case kReadOnlyA:
          want = route.read_only;
          break;
        case kWriterA:
          want = route.writer_a;
          break;
        case kWriterB:
          want = route.writer_b;
          break;
        case kAdmin:
          want = route.admin;
          break;
        case kBackupKey:
          want = route.backup;
          break;
        default:
          break;
      }
      HttpResponse res = Call(who, route.make(who));
      // One backup runs at a time: the previous caller's may still be
      // releasing its slot after its last byte arrived. Wait it out.
      for (int i = 0; i < 100 && res.status == 409 && route.name == "GET /v1/admin/backup"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        res = Call(who, route.make(who));
      }
      ++cells;
      SCOPED_TRACE(route.name + " as " + kCallerNames[c]);
      EXPECT_EQ(res.status, want) << Describe(res);
      if (res.status >= 400) {
        std::string code = ErrorCode(res);
        EXPECT_EQ(code, want == 401   ? "unauthorized"
                        : want == 403 ? "forbidden"
                        : want == 404 ? "not_found"
                                      : code)
            << Describe(res);
      }
      // A backup holds every project: the backup key's one 200 is the archive.
      bool may_see_alpha =
          who == kReadOnlyA || who == kWriterA || who == kAdmin || who == kBackupKey;
      if (!may_see_alpha || res.status >= 400) {
        EXPECT_EQ(res.body.find(kSecret), std::string::npos) << "leaked: " << res.body;
      }
      for (int k = 0; k < kCallerCount; ++k) {
        if (keys_[k].size() > 20) {
          EXPECT_EQ(res.body.find(keys_[k]), std::string::npos) << "a key in a reply";
        }
      }
    }
  }
  EXPECT_EQ(cells, 17 * 10);
  // Only the admin's import wrote: gamma holds exactly its one record.
  auto g = Call(kAdmin, {"GET", "/v1/admin/projects/gamma/export", ""});
  EXPECT_NE(g.body.find(R"({"end":true,"assertions":1,"retractions":0})"), std::string::npos)
      << g.body;

  // Beta's query and beliefs about alpha's subject came back empty, and the
  // readers of alpha did see the secret: the matrix checked something.
  auto b = Call(kWriterB, {"GET", "/v1/query?subject=vault", ""});
  ASSERT_EQ(b.status, 200) << Describe(b);
  EXPECT_EQ(ParseJson(b.body).at("assertions").as_array().size(), 0u) << b.body;
  auto a = Call(kReadOnlyA, {"GET", "/v1/query?subject=vault", ""});
  EXPECT_NE(a.body.find(kSecret), std::string::npos) << a.body;
}

}  // namespace
}  // namespace stemedb::e2e
