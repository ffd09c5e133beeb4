// Router tests without a network: a real Database in a temp dir, a real
// KeyStore/AgentRegistry/AuditLog/RateLimiter/UsageMeter, and Router::Handle
// called directly. Write replies arrive from the WAL writer thread, so each
// request waits on a future.
#include "api/router.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <set>

#include "api/config.h"
#include "api/disk_monitor.h"
#include "api/json_validation.h"
#include "api/metrics.h"
#include "auth/agent_registry.h"
#include "auth/audit_log.h"
#include "auth/key_store.h"
#include "auth/rate_limiter.h"
#include "auth/signature.h"
#include "auth/usage_meter.h"
#include "engine/database.h"
#include "util/env.h"

namespace stemedb::api {
namespace {

namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Reply {
  unsigned status = 0;
  std::string body;
  Response res;
  json::value Json() const {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    return ec ? json::value() : v;
  }
  std::string Code() const {
    json::value v = Json();
    if (!v.is_object() || !v.as_object().contains("error")) return "";
    return std::string(v.at("error").at("code").as_string());
  }
  std::string Str(std::string_view field) const {
    json::value v = Json();
    if (!v.is_object()) return "";
    const json::value* f = v.as_object().if_contains(field);
    return f && f->is_string() ? std::string(f->as_string()) : "";
  }
  std::string Header(std::string_view name) const {
    auto it = res.find(name);
    return it == res.end() ? "" : std::string(it->value());
  }
};

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/router_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_.allowed_origins = {"https://app.example"};
    config_.max_body_bytes = 256 * 1024;
    config_.auth_enabled = true;
    Open();
  }

  void Open() {
    engine::DatabaseOptions opts;
    opts.db_dir = dir_ + "/db";
    opts.wal.dir = dir_ + "/wal";
    opts.wal.segment_bytes = 1 << 20;
    opts.wal.preallocate_next_segment = false;
    auto db = engine::Database::Open(opts, nullptr);
    ASSERT_TRUE(db) << db.error().ToString();
    db_ = std::move(*db);
    config_.rate_limit_spec = auth::RateLimitSpec{10000, 10000};
    config_.data_dir = dir_;
    config_.wal_dir = dir_ + "/wal";
    config_.db_dir = dir_ + "/db";
    auto opened_auth = OpenAuthServices(db_.get(), config_);
    ASSERT_TRUE(opened_auth) << opened_auth.error().ToString();
    auth_ = std::move(*opened_auth);
    metrics_ = std::make_unique<Metrics>();
    disk_ = std::make_unique<DiskMonitor>(
        Env::Default(), std::vector<DiskMonitor::Volume>{{"db", dir_}}, min_free_, nullptr);
    disk_->PollOnce();
    Services s = MakeServices(&config_, db_.get(), auth_, metrics_.get(), disk_.get());
    s.ready = [this] { return ready_.load(); };
    s.health_json = [] { return std::string(R"({"status":"ok"})"); };
    router_ = std::make_unique<Router>(std::move(s));

    root_ = auth::GenerateKey();
    auto seeded = auth_.keys->SeedRootKey(root_, Now());
    ASSERT_TRUE(seeded) << seeded.error().ToString();
    writer_a_ = MakeKey(auth::Role::kWriteAgent, "a");
    reader_a_ = MakeKey(auth::Role::kReadOnly, "a");
    writer_b_ = MakeKey(auth::Role::kWriteAgent, "b");
  }

  void Close() {
    // As App does: commit callbacks capture the Router and the apply thread
    // destroys them after it replied, so the Router outlives the database.
    disk_.reset();
    if (db_) {
      ASSERT_TRUE(db_->Close().ok());
    }
    router_.reset();
    auth_ = AuthServices();
    db_.reset();
  }

  void TearDown() override {
    Close();
    std::filesystem::remove_all(dir_);
  }

  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  std::string MakeKey(auth::Role role, const std::string& project,
                      std::optional<auth::RateLimitSpec> rate = std::nullopt) {
    auth::CreateKeyRequest req;
    req.label = "test";
    req.role = role;
    req.project = project;
    req.rate_limit = rate;
    auto issued = auth_.keys->Create(req, "test", Now());
    EXPECT_TRUE(issued) << issued.error().ToString();
    return issued ? issued->key : "";
  }

  Reply Do(http::verb method, const std::string& target, const std::string& key,
           const std::string& body = "", Headers headers = {}, bool json_ct = true) {
    Request req{method, target, 11};
    if (!key.empty()) req.set("X-API-Key", key);
    if (json_ct && !body.empty()) req.set(http::field::content_type, "application/json");
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    auto promise = std::make_shared<std::promise<Response>>();
    auto future = promise->get_future();
    auto meta = std::make_shared<RequestMeta>();
    last_meta_ = meta;
    router_->Handle(
        std::move(req), meta, [promise](Response r) { promise->set_value(std::move(r)); },
        [promise](StreamingReply s) {
          std::string all;
          bool ok = s.produce([&](std::string_view chunk) {
            all.append(chunk);
            return true;
          });
          Response r = std::move(s.head);
          r.body() = ok ? all : "";
          promise->set_value(std::move(r));
        });
    Reply out;
    out.res = future.get();
    out.status = out.res.result_int();
    out.body = out.res.body();
    return out;
  }
  Reply Get(const std::string& target, const std::string& key, Headers h = {}) {
    return Do(http::verb::get, target, key, "", std::move(h));
  }
  Reply Post(const std::string& target, const std::string& key, const std::string& body,
             Headers h = {}) {
    return Do(http::verb::post, target, key, body, std::move(h));
  }

  static std::string Assertion(const std::string& subject, const std::string& predicate,
                               const std::string& value_json, const std::string& agent) {
    return R"({"subject":")" + subject + R"(","predicate":")" + predicate + R"(","value":)" +
           value_json + R"(,"agent_id":")" + agent + R"("})";
  }

  std::string dir_;
  ServerConfig config_;
  uint64_t min_free_ = 0;
  std::atomic<bool> ready_{true};
  std::unique_ptr<engine::Database> db_;
  AuthServices auth_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<DiskMonitor> disk_;
  std::unique_ptr<Router> router_;
  std::shared_ptr<RequestMeta> last_meta_;
  std::string root_, writer_a_, reader_a_, writer_b_;
};

TEST_F(RouterTest, PublicRoutesNeedNoKey) {
  EXPECT_EQ(Get("/v1/health", "").status, 200u);
  EXPECT_EQ(Get("/v1/ready", "").status, 200u);
  Reply m = Get("/metrics", "");
  EXPECT_EQ(m.status, 200u);
  EXPECT_NE(m.Header("Content-Type").find("text/plain"), std::string::npos);
  Reply o = Get("/v1/openapi.json", "");
  EXPECT_EQ(o.status, 200u);
  EXPECT_EQ(o.Str("openapi"), "3.0.3");
}

TEST_F(RouterTest, OpenApiDocumentsEveryRoute) {
  json::value doc = Get("/v1/openapi.json", "").Json();
  const json::object& paths = doc.at("paths").as_object();
  for (const Router::Route& r : Router::Routes()) {
    std::string method(http::to_string(r.method));
    for (char& c : method) c = static_cast<char>(std::tolower(c));
    ASSERT_TRUE(paths.contains(r.path)) << r.path;
    EXPECT_TRUE(paths.at(r.path).as_object().contains(method)) << method << " " << r.path;
  }
}

TEST_F(RouterTest, AssertThenGet) {
  Reply w = Post("/v1/assert", writer_a_, Assertion("sky", "color", R"("blue")", "alice"));
  ASSERT_EQ(w.status, 201u) << w.body;
  std::string id = w.Str("id");
  EXPECT_EQ(id.size(), 32u);
  EXPECT_GT(w.Json().at("lsn").as_int64(), 0);
  EXPECT_FALSE(w.Str("recorded_at").empty());
  EXPECT_FALSE(w.Json().at("signed").as_bool());
  EXPECT_EQ(last_meta_->route, "/v1/assert");
  EXPECT_EQ(last_meta_->project, "a");
  EXPECT_EQ(last_meta_->assertions_written, 1u);

  Reply g = Get("/v1/assertions/" + id, reader_a_);
  ASSERT_EQ(g.status, 200u) << g.body;
  EXPECT_EQ(g.Str("subject"), "sky");
  EXPECT_EQ(g.Str("value"), "blue");
  EXPECT_EQ(g.Str("project"), "a");
  EXPECT_FALSE(g.Json().at("retracted").as_bool());
  EXPECT_EQ(last_meta_->route, "/v1/assertions/{id}");
}

TEST_F(RouterTest, AuthenticationErrors) {
  EXPECT_EQ(Get("/v1/usage", "").Code(), "unauthorized");
  EXPECT_EQ(Get("/v1/usage", "").status, 401u);
  EXPECT_EQ(Get("/v1/usage", "steme_live_nothex").status, 401u);
  Reply unknown = Get("/v1/usage", auth::GenerateKey());
  EXPECT_EQ(unknown.status, 401u);
  EXPECT_EQ(Get("/v1/usage", "", {{"Authorization", "Bearer " + reader_a_}}).status, 200u);
  EXPECT_EQ(Get("/v1/usage", "", {{"Authorization", "Basic " + reader_a_}}).status, 401u);
}

TEST_F(RouterTest, ErrorRepliesNeverEchoTheKey) {
  std::string bogus = auth::GenerateKey();
  Reply r = Get("/v1/usage", bogus);
  EXPECT_EQ(r.body.find(bogus.substr(11)), std::string::npos);
}

TEST_F(RouterTest, RolesAreEnforced) {
  Reply r = Post("/v1/assert", reader_a_, Assertion("s", "p", "1", "a"));
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.Code(), "forbidden");
  EXPECT_EQ(Get("/v1/admin/api-keys", writer_a_).status, 403u);
  EXPECT_EQ(Get("/v1/admin/audit", reader_a_).status, 403u);
  EXPECT_EQ(Get("/v1/admin/api-keys", root_).status, 200u);
}

TEST_F(RouterTest, ProjectIsolation) {
  Reply w = Post("/v1/assert", writer_a_, Assertion("sky", "color", R"("blue")", "alice"));
  ASSERT_EQ(w.status, 201u);
  std::string id = w.Str("id");
  Reply missing = Get("/v1/assertions/00000000000000000000000000000000", writer_b_);
  Reply other = Get("/v1/assertions/" + id, writer_b_);
  EXPECT_EQ(other.status, 404u);
  EXPECT_EQ(other.body, missing.body);  // indistinguishable from a missing id
  EXPECT_EQ(Post("/v1/retract", writer_b_, R"({"id":")" + id + R"("})").status, 404u);
  EXPECT_EQ(Get("/v1/query?subject=sky", writer_b_).Json().at("assertions").as_array().size(), 0u);
  EXPECT_EQ(Get("/v1/assertions/" + id + "?project=a", writer_b_).status, 403u);
  // Admin keys name the project.
  EXPECT_EQ(Get("/v1/assertions/" + id, root_).Code(), "invalid_field");
  EXPECT_EQ(Get("/v1/assertions/" + id + "?project=a", root_).status, 200u);
  EXPECT_EQ(Get("/v1/assertions/" + id + "?project=b", root_).status, 404u);
}

TEST_F(RouterTest, UnknownRoutesAndMethods) {
  Reply r = Get("/v1/nope", root_);
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.Code(), "not_found");
  Reply m = Do(http::verb::put, "/v1/assert", writer_a_, "{}");
  EXPECT_EQ(m.status, 405u);
  EXPECT_EQ(m.Header("Allow"), "POST");
  EXPECT_EQ(Get("/v1/assert", writer_a_).status, 405u);
  EXPECT_EQ(Get("/v1/query?subject=s&bogus=1", reader_a_).Code(), "invalid_field");
  EXPECT_EQ(Get("/v1/query?subject=%zz", reader_a_).status, 400u);
}

TEST_F(RouterTest, BodyErrors) {
  Reply no_ct =
      Do(http::verb::post, "/v1/assert", writer_a_, Assertion("s", "p", "1", "a"), {}, false);
  EXPECT_EQ(no_ct.status, 415u);
  EXPECT_EQ(no_ct.Code(), "unsupported_media_type");
  Reply text = Do(http::verb::post, "/v1/assert", writer_a_, Assertion("s", "p", "1", "a"),
                  {{"Content-Type", "text/plain"}}, false);
  EXPECT_EQ(text.status, 415u);
  EXPECT_EQ(Post("/v1/assert", writer_a_, Assertion("s", "p", "1", "a"),
                 {{"Content-Type", "application/json; charset=utf-8"}})
                .status,
            201u);
  Reply big = Post("/v1/assert", writer_a_, std::string(config_.max_body_bytes + 1, ' '));
  EXPECT_EQ(big.status, 413u);
  EXPECT_EQ(big.Code(), "too_large");
  EXPECT_EQ(Post("/v1/assert", writer_a_, "{not json").Code(), "invalid_json");
  Reply field = Post("/v1/assert", writer_a_, Assertion("", "p", "1", "a"));
  EXPECT_EQ(field.status, 400u);
  EXPECT_EQ(field.Code(), "invalid_field");
  EXPECT_EQ(field.Json().at("error").at("field").as_string(), "subject");
}

TEST_F(RouterTest, BatchIsAllOrNothing) {
  std::string ok = R"({"assertions":[)" + Assertion("b", "p1", "1", "x") + "," +
                   Assertion("b", "p2", "2", "x") + "," + Assertion("b", "p3", "3", "x") + "]}";
  Reply w = Post("/v1/assert/batch", writer_a_, ok);
  ASSERT_EQ(w.status, 201u) << w.body;
  const json::value wj = w.Json();
  const json::array& items = wj.at("assertions").as_array();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].at("lsn"), items[2].at("lsn"));
  EXPECT_EQ(last_meta_->assertions_written, 3u);

  std::string bad = R"({"assertions":[)" + Assertion("c", "p1", "1", "x") + "," +
                    Assertion("c", "", "2", "x") + "]}";
  Reply r = Post("/v1/assert/batch", writer_a_, bad);
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.Json().at("error").at("field").as_string(), "assertions[1].predicate");
  EXPECT_EQ(Get("/v1/query?subject=c", reader_a_).Json().at("assertions").as_array().size(), 0u);

  std::string many = R"({"assertions":[)";
  for (int i = 0; i < 1001; ++i) many += (i ? "," : "") + Assertion("m", "p", "1", "x");
  many += "]}";
  EXPECT_EQ(Post("/v1/assert/batch", writer_a_, many).Code(), "invalid_field");
  EXPECT_EQ(Post("/v1/assert/batch", writer_a_, R"({"assertions":[]})").Code(), "invalid_field");
}

TEST_F(RouterTest, RetractHidesFromCurrentView) {
  Reply w = Post("/v1/assert", writer_a_, Assertion("r", "p", "1", "x"));
  ASSERT_EQ(w.status, 201u);
  std::string id = w.Str("id");
  Reply r = Post("/v1/retract", writer_a_, R"({"id":")" + id + R"("})");
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.Str("retracts"), id);
  std::string rid = r.Str("id");
  EXPECT_NE(rid, id);
  Reply g = Get("/v1/assertions/" + id, reader_a_);
  EXPECT_TRUE(g.Json().at("retracted").as_bool());
  EXPECT_EQ(g.Str("retraction_id"), rid);
  EXPECT_EQ(Get("/v1/assertions/" + rid, reader_a_).status, 200u);
  EXPECT_EQ(Get("/v1/query?subject=r", reader_a_).Json().at("assertions").as_array().size(), 0u);
  EXPECT_EQ(
      Get("/v1/query?subject=r&history=true", reader_a_).Json().at("assertions").as_array().size(),
      1u);
  EXPECT_EQ(Post("/v1/retract", writer_a_, R"({"id":"0123456789abcdef0123456789abcdef"})").status,
            404u);
  EXPECT_EQ(Post("/v1/retract", writer_a_, R"({"id":"nope"})").Code(), "invalid_field");
}

TEST_F(RouterTest, QueryPaginatesWithoutSkipsOrRepeats) {
  std::string batch = R"({"assertions":[)";
  for (int i = 0; i < 25; ++i) {
    batch += (i ? "," : "") + Assertion("page", "p" + std::to_string(i), std::to_string(i), "x");
  }
  batch += "]}";
  ASSERT_EQ(Post("/v1/assert/batch", writer_a_, batch).status, 201u);
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  while (true) {
    std::string target = "/v1/query?subject=page&limit=10";
    if (!cursor.empty()) target += "&cursor=" + cursor;
    Reply r = Get(target, reader_a_);
    ASSERT_EQ(r.status, 200u) << r.body;
    json::value v = r.Json();
    for (const auto& a : v.at("assertions").as_array()) {
      EXPECT_TRUE(seen.insert(std::string(a.at("id").as_string())).second);
    }
    ++pages;
    // Writes between pages must not shift the pinned view.
    ASSERT_EQ(Post("/v1/assert", writer_a_, Assertion("page", "late", "1", "x")).status, 201u);
    if (v.at("next_cursor").is_null()) break;
    cursor = std::string(v.at("next_cursor").as_string());
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(Get("/v1/query?subject=page&limit=0", reader_a_).Code(), "invalid_field");
  EXPECT_EQ(Get("/v1/query?subject=page&limit=1001", reader_a_).Code(), "invalid_field");
  EXPECT_EQ(Get("/v1/query?limit=5", reader_a_).Code(), "invalid_field");
}

TEST_F(RouterTest, AsOfReadsTheStateAtThatLsn) {
  Reply v1 = Post("/v1/assert", writer_a_, Assertion("t", "temp", "1", "x"));
  ASSERT_EQ(v1.status, 201u);
  int64_t lsn1 = v1.Json().at("lsn").as_int64();
  std::string t1 = v1.Str("recorded_at");
  ASSERT_EQ(Post("/v1/assert", writer_a_, Assertion("t", "temp", "2", "x")).status, 201u);

  auto values = [&](const std::string& extra) {
    std::vector<int64_t> out;
    // Keep the reply alive: a range-for over a member of a temporary dangles.
    json::value reply = Get("/v1/query?subject=t" + extra, reader_a_).Json();
    for (const auto& a : reply.at("assertions").as_array()) {
      out.push_back(a.at("value").as_int64());
    }
    return out;
  };
  EXPECT_EQ(values(""), std::vector<int64_t>{2});
  EXPECT_EQ(values("&as_of=lsn:" + std::to_string(lsn1)), std::vector<int64_t>{1});
  EXPECT_EQ(values("&as_of=" + t1), std::vector<int64_t>{1});
  EXPECT_EQ(values("&history=true").size(), 2u);
  EXPECT_EQ(values("&as_of=lsn:" + std::to_string(lsn1 - 1)).size(), 0u);
  EXPECT_EQ(Get("/v1/query?subject=t&as_of=lsn:999999", reader_a_).Code(), "invalid_field");
  EXPECT_EQ(Get("/v1/query?subject=t&as_of=yesterday", reader_a_).Code(), "invalid_field");
}

TEST_F(RouterTest, BeliefsShowConflicts) {
  ASSERT_EQ(Post("/v1/assert", writer_a_, Assertion("sky", "color", R"("blue")", "alice")).status,
            201u);
  ASSERT_EQ(Post("/v1/assert", writer_a_, Assertion("sky", "color", R"("blue")", "bob")).status,
            201u);
  ASSERT_EQ(Post("/v1/assert", writer_a_, Assertion("sky", "mood", R"("calm")", "bob")).status,
            201u);
  Reply b = Get("/v1/beliefs?subject=sky&predicate=color", reader_a_);
  ASSERT_EQ(b.status, 200u) << b.body;
  json::value v = b.Json();
  EXPECT_EQ(v.at("subject").as_string(), "sky");
  ASSERT_EQ(v.at("beliefs").as_array().size(), 1u);
  EXPECT_FALSE(v.at("beliefs").at(0).at("conflict").as_bool());
  EXPECT_EQ(v.at("beliefs").at(0).at("values").at(0).at("agents").as_array().size(), 2u);

  ASSERT_EQ(Post("/v1/assert", writer_a_, Assertion("sky", "color", R"("red")", "carol")).status,
            201u);
  v = Get("/v1/beliefs?subject=sky", reader_a_).Json();
  ASSERT_EQ(v.at("beliefs").as_array().size(), 2u);
  bool saw_conflict = false;
  for (const auto& pb : v.at("beliefs").as_array()) {
    if (pb.at("predicate").as_string() == "color") {
      saw_conflict = pb.at("conflict").as_bool();
      EXPECT_EQ(pb.at("values").as_array().size(), 2u);
    }
  }
  EXPECT_TRUE(saw_conflict);
  EXPECT_EQ(Get("/v1/beliefs", reader_a_).Code(), "invalid_field");
}

TEST_F(RouterTest, IdempotentRetriesRepeatTheFirstReply) {
  Headers h{{"Idempotency-Key", "retry-1"}};
  std::string body = Assertion("i", "p", "1", "x");
  Reply first = Post("/v1/assert", writer_a_, body, h);
  ASSERT_EQ(first.status, 201u) << first.body;
  Reply again = Post("/v1/assert", writer_a_, body, h);
  EXPECT_EQ(again.status, 201u);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(
      Get("/v1/query?subject=i&history=true", reader_a_).Json().at("assertions").as_array().size(),
      1u);
  Reply other = Post("/v1/assert", writer_a_, Assertion("i", "p", "2", "x"), h);
  EXPECT_EQ(other.status, 409u);
  EXPECT_EQ(other.Code(), "conflict");
  // Keys are per project: project b may use the same key freely.
  EXPECT_EQ(Post("/v1/assert", writer_b_, body, h).status, 201u);
  // Present but empty is a client bug, not "no key": refused, not ignored.
  Reply empty = Post("/v1/assert", writer_a_, body, {{"Idempotency-Key", ""}});
  EXPECT_EQ(empty.status, 400u);
  EXPECT_EQ(empty.Code(), "invalid_field");
}

TEST_F(RouterTest, IdempotencySurvivesRestart) {
  Headers h{{"Idempotency-Key", "restart-1"}};
  std::string body = R"({"assertions":[)" + Assertion("k", "p", "1", "x") + "]}";
  Reply first = Post("/v1/assert/batch", writer_a_, body, h);
  ASSERT_EQ(first.status, 201u);
  std::string writer = writer_a_;
  Close();
  Open();
  Reply again = Post("/v1/assert/batch", writer, body, h);
  EXPECT_EQ(again.status, 201u) << again.body;
  EXPECT_EQ(again.body, first.body);
}

TEST_F(RouterTest, SignaturesOfRegisteredAgents) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  auto b64 = [](const unsigned char* data, size_t n) {
    std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), data, n, sodium_base64_VARIANT_ORIGINAL);
    out.pop_back();
    return out;
  };
  std::string pub = b64(pk, sizeof pk);
  Reply reg = Post("/v1/agents", writer_a_, R"({"agent_id":"signer","public_key":")" + pub + "\"}");
  ASSERT_EQ(reg.status, 201u) << reg.body;
  EXPECT_EQ(
      Post("/v1/agents", writer_a_, R"({"agent_id":"signer","public_key":")" + pub + "\"}").status,
      200u);

  auto sign = [&](const std::string& project, const std::string& subject,
                  const std::string& value_json) {
    auth::SignedFields f{project, subject, "color", value_json, "signer", std::nullopt, ""};
    std::string msg = auth::CanonicalSigningBytes(f);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()),
                         msg.size(), sk);
    return b64(sig, sizeof sig);
  };
  auto signed_body = [](const std::string& subject, const std::string& value,
                        const std::string& sig) {
    return R"({"subject":")" + subject + R"(","predicate":"color","value":)" + value +
           R"(,"agent_id":"signer","signature":")" + sig + "\"}";
  };

  Reply unsigned_write = Post("/v1/assert", writer_a_, Assertion("sky", "color", "1", "signer"));
  EXPECT_EQ(unsigned_write.status, 401u);
  EXPECT_EQ(unsigned_write.Code(), "bad_signature");

  Reply good = Post("/v1/assert", writer_a_,
                    signed_body("sky", R"({"b":1,"a":2})", sign("a", "sky", R"({"a":2,"b":1})")));
  ASSERT_EQ(good.status, 201u) << good.body;
  EXPECT_TRUE(good.Json().at("signed").as_bool());
  EXPECT_TRUE(Get("/v1/assertions/" + good.Str("id"), reader_a_).Json().at("signed").as_bool());

  EXPECT_EQ(Post("/v1/assert", writer_a_, signed_body("sky", "2", sign("a", "sky", "1"))).Code(),
            "bad_signature");  // tampered value
  EXPECT_EQ(Post("/v1/assert", writer_a_, signed_body("sea", "1", sign("a", "sky", "1"))).Code(),
            "bad_signature");  // replayed onto another subject

  unsigned char pk2[crypto_sign_PUBLICKEYBYTES], sk2[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk2, sk2);
  std::string body2 = R"({"agent_id":"signer","public_key":")" + b64(pk2, sizeof pk2) + "\"}";
  EXPECT_EQ(Post("/v1/agents", writer_a_, body2).status, 403u);
  EXPECT_EQ(Post("/v1/agents?project=a", root_, body2).status, 201u);
  EXPECT_EQ(Post("/v1/assert", writer_a_, signed_body("sky", "1", sign("a", "sky", "1"))).Code(),
            "bad_signature");  // old key no longer valid
  // An unregistered agent of the same name in project b writes unsigned.
  EXPECT_EQ(Post("/v1/assert", writer_b_, Assertion("sky", "color", "1", "signer")).status, 201u);
  EXPECT_EQ(Post("/v1/agents", writer_a_, R"({"agent_id":"x","public_key":"abc"})").Code(),
            "invalid_field");
}

TEST_F(RouterTest, SkipSignaturesAcceptsUnsigned) {
  config_.unsafe_skip_signatures = true;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  std::string pub(sodium_base64_ENCODED_LEN(sizeof pk, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(pub.data(), pub.size(), pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
  pub.pop_back();
  ASSERT_EQ(Post("/v1/agents", writer_a_, R"({"agent_id":"s","public_key":")" + pub + "\"}").status,
            201u);
  Reply w = Post("/v1/assert", writer_a_, Assertion("x", "p", "1", "s"));
  EXPECT_EQ(w.status, 201u);
  EXPECT_FALSE(w.Json().at("signed").as_bool());
}

TEST_F(RouterTest, RateLimitAnswers429) {
  std::string slow = MakeKey(auth::Role::kReadOnly, "a", auth::RateLimitSpec{0.001, 2});
  EXPECT_EQ(Get("/v1/usage", slow).status, 200u);
  EXPECT_EQ(Get("/v1/usage", slow).status, 200u);
  Reply r = Get("/v1/usage", slow);
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.Code(), "rate_limited");
  EXPECT_GE(std::stoi(r.Header("Retry-After")), 1);
  auto usage = auth_.meter->ForKey(auth::KeyIdOf(slow));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->rate_limited, 1u);
  EXPECT_EQ(usage->requests, 3u);  // the refused request is metered too
}

TEST_F(RouterTest, NotReadyAnswers503) {
  ready_ = false;
  Reply r = Get("/v1/usage", reader_a_);
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.Code(), "unavailable");
  EXPECT_EQ(r.Header("Retry-After"), "1");
  EXPECT_EQ(Get("/v1/ready", "").status, 503u);
  EXPECT_EQ(Get("/v1/health", "").status, 200u);
}

TEST_F(RouterTest, LowDiskRefusesWritesNotReads) {
  Reply w =
      Post("/v1/assert", writer_a_, Assertion("d", "p", "1", "x"), {{"Idempotency-Key", "d"}});
  ASSERT_EQ(w.status, 201u);
  Close();
  min_free_ = ~uint64_t{0};
  Open();
  Reply r = Post("/v1/assert", writer_a_, Assertion("d", "p", "2", "x"));
  EXPECT_EQ(r.status, 507u);
  EXPECT_EQ(r.Code(), "insufficient_storage");
  EXPECT_EQ(Post("/v1/admin/api-keys", root_, R"({"label":"l","role":"admin"})").status, 507u);
  EXPECT_EQ(Get("/v1/query?subject=d", reader_a_).status, 200u);
  // A retry of a write that already committed still gets its first reply.
  Reply again =
      Post("/v1/assert", writer_a_, Assertion("d", "p", "1", "x"), {{"Idempotency-Key", "d"}});
  EXPECT_EQ(again.status, 201u);
  EXPECT_EQ(again.body, w.body);
}

TEST_F(RouterTest, Cors) {
  Reply allowed = Get("/v1/health", "", {{"Origin", "https://app.example"}});
  EXPECT_EQ(allowed.Header("Access-Control-Allow-Origin"), "https://app.example");
  Reply denied = Get("/v1/health", "", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(denied.Header("Access-Control-Allow-Origin"), "");
  Reply pre = Do(http::verb::options, "/v1/assert", "", "",
                 {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(pre.status, 204u);
  EXPECT_NE(pre.Header("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_NE(pre.Header("Access-Control-Allow-Headers").find("X-API-Key"), std::string::npos);
  config_.allowed_origins.clear();
  Reply none = Get("/v1/health", "", {{"Origin", "https://app.example"}});
  EXPECT_EQ(none.Header("Access-Control-Allow-Origin"), "");
}

TEST_F(RouterTest, AdminKeyLifecycle) {
  Reply c = Post("/v1/admin/api-keys", root_,
                 R"({"label":"ci","role":"write_agent","project":"a","rate_limit":"5/s,10"})");
  ASSERT_EQ(c.status, 201u) << c.body;
  std::string key = c.Str("key");
  std::string key_id = c.Str("key_id");
  EXPECT_TRUE(auth::IsWellFormedKey(key));
  EXPECT_EQ(c.Str("role"), "write_agent");
  EXPECT_EQ(Get("/v1/usage", key).status, 200u);

  Reply list = Get("/v1/admin/api-keys", root_);
  ASSERT_EQ(list.status, 200u);
  EXPECT_EQ(list.body.find(key), std::string::npos);
  EXPECT_NE(list.body.find(key_id), std::string::npos);

  Reply rot = Post("/v1/admin/api-keys/" + key_id + "/rotate", root_, "");
  ASSERT_EQ(rot.status, 201u) << rot.body;
  std::string new_key = rot.Str("key");
  EXPECT_NE(new_key, key);
  EXPECT_EQ(Get("/v1/usage", key).status, 401u);
  EXPECT_EQ(Get("/v1/usage", new_key).status, 200u);

  Reply grace = Post("/v1/admin/api-keys/" + rot.Str("key_id") + "/rotate", root_,
                     R"({"grace_seconds":3600})");
  ASSERT_EQ(grace.status, 201u) << grace.body;
  EXPECT_EQ(Get("/v1/usage", new_key).status, 200u);  // still in its grace period
  EXPECT_EQ(
      Post("/v1/admin/api-keys/" + key_id + "/rotate", root_, R"({"grace_seconds":-1})").Code(),
      "invalid_field");

  std::string newest = grace.Str("key");
  Reply del = Do(http::verb::delete_, "/v1/admin/api-keys/" + grace.Str("key_id"), root_);
  EXPECT_EQ(del.status, 200u) << del.body;
  EXPECT_EQ(Get("/v1/usage", newest).status, 401u);
  EXPECT_EQ(Do(http::verb::delete_, "/v1/admin/api-keys/0123456789abcdef", root_).status, 404u);

  EXPECT_EQ(
      Post("/v1/admin/api-keys", root_, R"({"label":"x","role":"boss","project":"a"})").Code(),
      "invalid_field");
  EXPECT_EQ(Post("/v1/admin/api-keys", root_, R"({"label":"x","role":"read_only"})").Code(),
            "invalid_field");

  Reply audit = Get("/v1/admin/audit?limit=2", root_);
  ASSERT_EQ(audit.status, 200u) << audit.body;
  const json::value audit_json = audit.Json();
  const json::array& recs = audit_json.at("records").as_array();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_GT(recs[0].at("seq").as_int64(), recs[1].at("seq").as_int64());
  EXPECT_EQ(audit.body.find(key), std::string::npos);
  int64_t next = audit.Json().at("next_before").as_int64();
  Reply older = Get("/v1/admin/audit?before=" + std::to_string(next), root_);
  ASSERT_EQ(older.status, 200u);
  json::value older_json = older.Json();
  for (const auto& r : older_json.at("records").as_array()) {
    EXPECT_LT(r.at("seq").as_int64(), next);
  }
}

TEST_F(RouterTest, UsageIsMetered) {
  ASSERT_EQ(Post("/v1/assert", writer_a_, Assertion("u", "p", "1", "x")).status, 201u);
  Reply u = Get("/v1/usage", writer_a_);
  ASSERT_EQ(u.status, 200u) << u.body;
  json::value v = u.Json();
  EXPECT_EQ(v.at("key_id").as_string(), auth::KeyIdOf(writer_a_));
  EXPECT_EQ(v.at("assertions_written").as_int64(), 1);
  EXPECT_EQ(v.at("requests").as_int64(), 1);  // this request is counted after its reply
  EXPECT_GT(v.at("bytes_in").as_int64(), 0);
  Reply admin = Get("/v1/admin/usage?project=a", root_);
  ASSERT_EQ(admin.status, 200u) << admin.body;
  EXPECT_TRUE(admin.Json().at("keys").is_array());
  EXPECT_TRUE(admin.Json().at("projects").is_array());
}

TEST_F(RouterTest, BackupStreamsAnArchive) {
  ASSERT_EQ(Post("/v1/assert", writer_a_, Assertion("bk", "p", "1", "x")).status, 201u);
  Reply b = Get("/v1/admin/backup", root_);
  ASSERT_EQ(b.status, 200u);
  EXPECT_EQ(b.Header("Content-Type"), "application/x-tar");
  EXPECT_GT(b.body.size(), 1024u);
  EXPECT_NE(b.body.find("MANIFEST.json"), std::string::npos);
  EXPECT_EQ(Get("/v1/admin/backup", writer_a_).status, 403u);
  Reply audit = Get("/v1/admin/audit?limit=1", root_);
  EXPECT_EQ(audit.Json().at("records").at(0).at("action").as_string(), "backup.download");
}

// --- the pipeline's steps (Router::Handle), one at a time ---

TEST_F(RouterTest, RouteTableIsConsistent) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const Router::Route& r : Router::Routes()) {
    const std::string method(http::to_string(r.method));
    EXPECT_TRUE(seen.emplace(method, std::string(r.path)).second) << method << " " << r.path;
    EXPECT_NE(r.fn, nullptr) << r.path;
    // An admin key names the project of a data route with ?project=.
    if (r.project_scoped) {
      EXPECT_NE(std::find(r.params.begin(), r.params.end(), "project"), r.params.end()) << r.path;
    }
    if (r.access == Router::Access::kPublic) {
      EXPECT_FALSE(r.project_scoped || r.disk_floor || r.json_body) << r.path;
    }
  }
}

TEST_F(RouterTest, RejectedAtAuthenticateIsNeitherLimitedNorMetered) {
  std::string key = MakeKey(auth::Role::kReadOnly, "a", auth::RateLimitSpec{0.001, 1});
  const std::string key_id = auth::KeyIdOf(key);
  ASSERT_TRUE(auth_.keys->Revoke(key_id, "test", Now()).ok());
  for (int i = 0; i < 3; ++i) {
    Reply r = Get("/v1/usage", key);
    EXPECT_EQ(r.status, 401u);
    EXPECT_EQ(r.Code(), "unauthorized");  // never 429: the limiter was not asked
  }
  auto usage = auth_.meter->ForKey(key_id);
  EXPECT_EQ(usage ? usage->requests : 0u, 0u);
  EXPECT_EQ(usage ? usage->rate_limited : 0u, 0u);
  EXPECT_EQ(last_meta_->key_id, "");
  // Authentication comes before the role check: no key on an admin route is 401.
  EXPECT_EQ(Get("/v1/admin/audit", "").status, 401u);
}

TEST_F(RouterTest, RateLimitComesBeforeAuthorize) {
  std::string slow = MakeKey(auth::Role::kReadOnly, "a", auth::RateLimitSpec{0.001, 1});
  // The forbidden call passes the limiter (and spends its one token) first...
  EXPECT_EQ(Post("/v1/assert", slow, Assertion("s", "p", "1", "a")).status, 403u);
  // ...so the next one, forbidden or not, is throttled before its role is checked.
  EXPECT_EQ(Post("/v1/assert", slow, Assertion("s", "p", "1", "a")).Code(), "rate_limited");
  EXPECT_EQ(Get("/v1/usage", slow).Code(), "rate_limited");
  auto usage = auth_.meter->ForKey(auth::KeyIdOf(slow));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->requests, 3u);  // every reply to a known key is metered
  EXPECT_EQ(usage->rate_limited, 2u);
}

TEST_F(RouterTest, RejectedAtAuthorizeNeverReachesBodyChecksOrTheRoute) {
  // Over the body limit, without a Content-Type: still 403, not 413 or 415.
  Reply big = Do(http::verb::post, "/v1/assert", reader_a_,
                 std::string(config_.max_body_bytes + 1, ' '), {}, false);
  EXPECT_EQ(big.status, 403u);
  Reply other = Do(http::verb::post, "/v1/assert?project=a", writer_b_, "{", {}, false);
  EXPECT_EQ(other.status, 403u);
  // Not dispatched: the route would have claimed the Idempotency-Key.
  Headers h{{"Idempotency-Key", "authz-1"}};
  EXPECT_EQ(Post("/v1/assert", reader_a_, Assertion("z", "p", "1", "x"), h).status, 403u);
  Reply w = Post("/v1/assert", writer_a_, Assertion("z", "p", "2", "x"), h);
  EXPECT_EQ(w.status, 201u) << w.body;  // not 409: the key was still free
  EXPECT_EQ(last_meta_->assertions_written, 1u);
}

TEST_F(RouterTest, BodyChecksComeBeforeTheRoute) {
  // Not JSON and too large: the size answers, the route's parser never runs.
  Reply big = Post("/v1/assert", writer_a_, "{" + std::string(config_.max_body_bytes, 'x'));
  EXPECT_EQ(big.status, 413u);
  Reply ct =
      Do(http::verb::post, "/v1/assert", writer_a_, "{", {{"Content-Type", "text/plain"}}, false);
  EXPECT_EQ(ct.status, 415u);
}

TEST_F(RouterTest, PublicRoutesSkipAuthenticationAndMetering) {
  EXPECT_EQ(Get("/v1/health", writer_a_).status, 200u);
  EXPECT_EQ(Get("/v1/health", "steme_live_nothex").status, 200u);
  EXPECT_EQ(last_meta_->key_id, "");
  auto usage = auth_.meter->ForKey(auth::KeyIdOf(writer_a_));
  EXPECT_EQ(usage ? usage->requests : 0u, 0u);
}

TEST_F(RouterTest, IdempotentReplaySkipsTheEngine) {
  Headers h{{"Idempotency-Key", "replay-1"}};
  std::string body = Assertion("rp", "p", "1", "x");
  Reply first = Post("/v1/assert", writer_a_, body, h);
  ASSERT_EQ(first.status, 201u) << first.body;
  const uint64_t applied = db_->applied_lsn().value();
  Reply again = Post("/v1/assert", writer_a_, body, h);
  EXPECT_EQ(again.status, 201u);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(db_->applied_lsn().value(), applied);  // nothing submitted
  EXPECT_EQ(last_meta_->assertions_written, 0u);   // nothing counted as written
  auto usage = auth_.meter->ForKey(auth::KeyIdOf(writer_a_));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->assertions_written, 1u);
  EXPECT_EQ(usage->requests, 2u);  // but the reply is metered
}

TEST_F(RouterTest, CorsHeadersOnEveryReplyAndOnTheBackupStream) {
  const Headers origin{{"Origin", "https://app.example"}};
  auto expect_cors = [](const Reply& r) {
    EXPECT_EQ(r.Header("Access-Control-Allow-Origin"), "https://app.example") << r.status;
    EXPECT_EQ(r.Header("Vary"), "Origin") << r.status;
    EXPECT_EQ(r.Header("Access-Control-Expose-Headers"), "Retry-After") << r.status;
  };
  expect_cors(Get("/v1/nope", "", origin));   // 404 at MatchRoute
  expect_cors(Get("/v1/usage", "", origin));  // 401 at Authenticate
  expect_cors(Get("/v1/usage", reader_a_, origin));
  Reply backup = Get("/v1/admin/backup", root_, origin);
  ASSERT_EQ(backup.status, 200u);
  expect_cors(backup);
  Reply pre = Do(http::verb::options, "/v1/admin/backup", "", "", origin);
  EXPECT_EQ(pre.status, 204u);
  EXPECT_EQ(pre.Header("Access-Control-Allow-Methods"), "GET, OPTIONS");
  EXPECT_EQ(pre.Header("Access-Control-Max-Age"), "600");
  expect_cors(pre);
}

// Ids: 32 lowercase hex, unique, and led by their creation time (8 bytes of
// microseconds), which is what keeps the assertions column family's inserts
// and SSTs in order (engine/db_impl.cc).
TEST(NewIdTest, UniqueWellFormedAndTimeLed) {
  const auto now_us = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const int64_t before = now_us();
  std::set<std::string> ids;
  for (int i = 0; i < 20000; ++i) {
    std::string id = NewId();
    ASSERT_EQ(id.size(), 32u);
    ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    ids.insert(std::move(id));
  }
  const int64_t after = now_us();
  EXPECT_EQ(ids.size(), 20000u);
  for (const std::string& id : {*ids.begin(), *ids.rbegin()}) {
    const int64_t t = static_cast<int64_t>(std::stoull(id.substr(0, 16), nullptr, 16));
    EXPECT_GE(t, before) << id;
    EXPECT_LE(t, after) << id;
  }
}

// The id of a copy imported with ids=derive (docs/projects.md "Import"): a
// well-formed id with the original's creation-time half, a function of the
// target project and the original id only. The fixed vector pins the
// construction (BLAKE2b, computed independently with Python's hashlib): a
// re-run of an import, on another release too, must derive the same ids.
TEST(DerivedIdTest, KeepsTheTimeHalfAndDependsOnProjectAndIdOnly) {
  EXPECT_EQ(DerivedId("beta", "0123456789abcdef0123456789abcdef"),
            "0123456789abcdefa59a030f9612de63");
  const std::string id = NewId();
  const std::string copy = DerivedId("beta", id);
  EXPECT_TRUE(IsWellFormedId(copy)) << copy;
  EXPECT_EQ(copy.substr(0, 16), id.substr(0, 16));
  EXPECT_NE(copy, id);
  EXPECT_EQ(DerivedId("beta", id), copy);
  EXPECT_NE(DerivedId("gamma", id), copy);
  EXPECT_NE(DerivedId("beta", NewId()), copy);
  // The retention sweeper's bound (NewIdTimeBound) treats it as the original.
  const int64_t t = static_cast<int64_t>(std::stoull(id.substr(0, 16), nullptr, 16));
  EXPECT_LT(copy, NewIdTimeBound(t + 1));
  EXPECT_GE(copy, NewIdTimeBound(t));
}

}  // namespace
}  // namespace stemedb::api
