// docs/api.md end to end against the real binary: each route's success path,
// the documented error codes, project isolation, key lifecycle, and the
// OpenAPI document walked route by route.
#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <set>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"

namespace stemedb::e2e {
namespace {

using client::HttpResponse;

size_t Count(const HttpResponse& r, const char* array_field = "assertions") {
  json::value v = ParseJson(r.body);
  if (!v.is_object() || !v.as_object().contains(array_field)) return static_cast<size_t>(-1);
  return v.as_object().at(array_field).as_array().size();
}

// key_id per docs/api.md: the first 16 hex of BLAKE2b-256 of the key.
std::string KeyIdOf(const std::string& key) {
  unsigned char hash[32];
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(key.data()),
                     key.size(), nullptr, 0);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
  return std::string(hex, 16);
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetEnv("STEMEDB_MAX_BODY_BYTES", "65536");
    ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
    http_ = server_.Client();
    auto a = CreateKey(*http_, server_.root_key(), "alpha", "write_agent");
    auto ar = CreateKey(*http_, server_.root_key(), "alpha", "read_only");
    auto b = CreateKey(*http_, server_.root_key(), "beta", "write_agent");
    ASSERT_TRUE(a && ar && b);
    writer_ = *a;
    reader_ = *ar;
    other_ = *b;
  }

  Result<HttpResponse> Get(const std::string& target, const std::string& key) {
    return http_->Request("GET", target, {}, Auth(key));
  }
  Result<HttpResponse> Post(const std::string& target, const std::string& body,
                            const std::string& key, Headers extra = {}) {
    return http_->Request("POST", target, body, Auth(key, std::move(extra)));
  }
  // Writes one assertion with writer_ and returns its reply object.
  json::value Write(const std::string& subject, const std::string& predicate, json::value value,
                    const std::string& agent = "agent-1") {
    auto r =
        PostAssertion(*http_, writer_.key, Assertion(subject, predicate, std::move(value), agent));
    EXPECT_TRUE(r && r->status == 201) << Describe(r);
    return r ? ParseJson(r->body) : json::value();
  }

  ServerProcess server_;
  std::unique_ptr<client::HttpClient> http_;
  ApiKey writer_, reader_, other_;
};

TEST_F(ApiTest, PublicRoutesNeedNoKey) {
  for (const char* path : {"/v1/health", "/v1/ready", "/metrics", "/v1/openapi.json"}) {
    auto r = http_->Request("GET", path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path << " " << Describe(*r);
  }
  auto m = http_->Request("GET", "/metrics");
  for (const char* metric : {"stemedb_http_requests_total", "stemedb_applied_lsn",
                             "stemedb_build_info", "stemedb_wal_fsync_latency_seconds"}) {
    EXPECT_NE(m->body.find(metric), std::string::npos) << "metric missing: " << metric;
  }
  EXPECT_EQ(m->body.find(server_.root_key()), std::string::npos);
  json::value doc = ParseJson(http_->Request("GET", "/v1/openapi.json")->body);
  ASSERT_TRUE(doc.is_object());
  EXPECT_TRUE(Str(doc, "openapi").starts_with("3.")) << "not an OpenAPI 3 document";
}

TEST_F(ApiTest, AssertThenReadBackEveryWay) {
  json::object a = Assertion("sky", "color", "blue", "alice");
  a["confidence"] = 0.9;
  a["observed_at"] = "2026-11-22T10:00:00Z";
  auto w = PostAssertion(*http_, writer_.key, a);
  ASSERT_TRUE(w && w->status == 201) << Describe(w);
  json::value reply = ParseJson(w->body);
  const std::string id = Str(reply, "id");
  ASSERT_FALSE(id.empty()) << w->body;
  EXPECT_TRUE(reply.as_object().contains("lsn"));
  EXPECT_FALSE(Str(reply, "recorded_at").empty());

  auto g = Get("/v1/assertions/" + id, reader_.key);
  ASSERT_TRUE(g && g->status == 200) << Describe(g);
  json::value got = ParseJson(g->body);
  EXPECT_EQ(Str(got, "subject"), "sky");
  EXPECT_EQ(Str(got, "project"), "alpha");
  EXPECT_EQ(got.at("value"), json::value("blue"));
  EXPECT_EQ(got.at("signed"), json::value(false));
  EXPECT_EQ(got.at("lsn"), reply.at("lsn"));

  for (const std::string q : {"subject=sky", "predicate=color", "agent_id=alice",
                              "subject=sky&predicate=color&agent_id=alice"}) {
    auto r = Get("/v1/query?" + q, reader_.key);
    ASSERT_TRUE(r && r->status == 200) << q << " " << Describe(r);
    EXPECT_EQ(Count(*r), 1u) << q << " " << r->body;
    EXPECT_NE(r->body.find(id), std::string::npos);
  }
  auto usage = Get("/v1/usage", writer_.key);
  ASSERT_TRUE(usage && usage->status == 200) << Describe(usage);
  EXPECT_EQ(Str(ParseJson(usage->body), "key_id"), writer_.key_id);
}

TEST_F(ApiTest, BatchIsAllOrNothing) {
  json::array ok{Assertion("b1", "p", 1, "a"), Assertion("b2", "p", 2, "a")};
  auto r = Post("/v1/assert/batch", Serialize(json::object{{"assertions", ok}}), writer_.key);
  ASSERT_TRUE(r && r->status == 201) << Describe(r);
  EXPECT_EQ(Count(*r), 2u);

  json::array bad{Assertion("b3", "p", 1, "a"), Assertion("", "p", 2, "a")};
  r = Post("/v1/assert/batch", Serialize(json::object{{"assertions", bad}}), writer_.key);
  ASSERT_TRUE(r) << Describe(r);
  EXPECT_EQ(r->status, 400) << Describe(*r);
  EXPECT_EQ(ErrorCode(*r), "invalid_field");
  auto q = Get("/v1/query?subject=b3", reader_.key);
  ASSERT_TRUE(q && q->status == 200);
  EXPECT_EQ(Count(*q), 0u) << "half of a refused batch was written";

  json::array too_many;
  for (int i = 0; i < 1001; ++i) too_many.push_back(Assertion("m", "p", i, "a"));
  server_.Stop();  // restart with a body limit that admits 1001 assertions
  server_.SetEnv("STEMEDB_MAX_BODY_BYTES", "1048576");
  ASSERT_TRUE(server_.Start().ok());
  http_ = server_.Client();
  r = Post("/v1/assert/batch", Serialize(json::object{{"assertions", too_many}}), writer_.key);
  ASSERT_TRUE(r) << Describe(r);
  EXPECT_EQ(r->status, 400) << Describe(*r);
}

TEST_F(ApiTest, RetractionIsARecordedFact) {
  const std::string id = Str(Write("door", "state", "open"), "id");
  auto r = Post("/v1/retract", Serialize(json::object{{"id", id}}), writer_.key);
  ASSERT_TRUE(r && r->status == 201) << Describe(r);
  const std::string rid = Str(ParseJson(r->body), "id");
  auto cur = Get("/v1/query?subject=door", reader_.key);
  EXPECT_EQ(Count(*cur), 0u) << cur->body;
  auto hist = Get("/v1/query?subject=door&history=true", reader_.key);
  EXPECT_NE(hist->body.find(id), std::string::npos) << hist->body;
  auto rec = Get("/v1/assertions/" + rid, reader_.key);
  ASSERT_TRUE(rec && rec->status == 200) << Describe(rec);
  EXPECT_EQ(Str(ParseJson(rec->body), "retracts"), id);

  auto missing =
      Post("/v1/retract", Serialize(json::object{{"id", "0123456789abcdef0123456789abcdef"}}),
           writer_.key);
  ASSERT_TRUE(missing) << Describe(missing);
  EXPECT_EQ(missing->status, 404) << Describe(*missing);
}

TEST_F(ApiTest, QueryPaginationAsOfAndHistory) {
  uint64_t lsn_after_3 = 0;
  for (int i = 0; i < 7; ++i) {
    json::value r = Write("page", "p" + std::to_string(i), i);
    if (i == 2) lsn_after_3 = r.at("lsn").to_number<uint64_t>();
  }
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    std::string target = "/v1/query?subject=page&limit=3";
    if (!cursor.empty()) target += "&cursor=" + cursor;
    auto r = Get(target, reader_.key);
    ASSERT_TRUE(r && r->status == 200) << Describe(r);
    json::value v = ParseJson(r->body);
    for (const auto& a : v.at("assertions").as_array()) {
      EXPECT_TRUE(seen.insert(Str(a, "id")).second) << "a page repeated an assertion";
    }
    // Writes to the same subject between pages must not shift what the
    // cursor returns: its view is pinned at the first page.
    Write("page", "noise-" + std::to_string(pages), pages);
    cursor = v.at("next_cursor").is_string() ? std::string(v.at("next_cursor").as_string()) : "";
    ASSERT_LT(++pages, 10);
  } while (!cursor.empty());
  EXPECT_EQ(seen.size(), 7u);

  auto asof = Get("/v1/query?subject=page&as_of=lsn:" + std::to_string(lsn_after_3), reader_.key);
  ASSERT_TRUE(asof && asof->status == 200) << Describe(asof);
  EXPECT_EQ(Count(*asof), 3u) << asof->body;

  Write("page", "p0", "changed");
  auto cur = Get("/v1/query?subject=page&predicate=p0", reader_.key);
  EXPECT_EQ(Count(*cur), 1u);
  auto hist = Get("/v1/query?subject=page&predicate=p0&history=true", reader_.key);
  EXPECT_EQ(Count(*hist), 2u);

  for (const std::string bad :
       {"", "limit=5", "subject=x&limit=1001", "subject=x&limit=0", "subject=x&as_of=yesterday",
        "subject=x&cursor=garbage!", "subject=x&nonsense=1"}) {
    auto r = Get("/v1/query?" + bad, reader_.key);
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 400) << bad << " " << Describe(*r);
    EXPECT_EQ(ErrorCode(*r), "invalid_field") << bad;
  }
}

TEST_F(ApiTest, BeliefsShowConflicts) {
  Write("earth", "shape", "round", "a1");
  Write("earth", "shape", "round", "a2");
  Write("earth", "age", "4.5e9", "a1");
  const std::string flat = Str(Write("earth", "age", "6000", "a3"), "id");
  auto r = Get("/v1/beliefs?subject=earth", reader_.key);
  ASSERT_TRUE(r && r->status == 200) << Describe(r);
  json::value v = ParseJson(r->body);
  std::map<std::string, bool> conflict;
  for (const auto& b : v.at("beliefs").as_array()) {
    conflict[Str(b, "predicate")] = b.at("conflict").as_bool();
  }
  EXPECT_FALSE(conflict.at("shape"));
  EXPECT_TRUE(conflict.at("age"));
  ASSERT_TRUE(Post("/v1/retract", Serialize(json::object{{"id", flat}}), writer_.key));
  r = Get("/v1/beliefs?subject=earth&predicate=age", reader_.key);
  ASSERT_TRUE(r && r->status == 200) << Describe(r);
  v = ParseJson(r->body);
  ASSERT_EQ(v.at("beliefs").as_array().size(), 1u) << r->body;
  EXPECT_FALSE(v.at("beliefs").as_array()[0].at("conflict").as_bool()) << r->body;
}

TEST_F(ApiTest, ErrorCodes) {
  const std::string body = Serialize(Assertion("s", "p", 1, "a"));
  auto expect = [](const Result<HttpResponse>& r, int status, const std::string& code) {
    ASSERT_TRUE(r) << Describe(r);
    EXPECT_EQ(r->status, status) << Describe(*r);
    EXPECT_EQ(ErrorCode(*r), code) << Describe(*r);
  };
  expect(http_->Request("POST", "/v1/assert", body), 401, "unauthorized");
  expect(Post("/v1/assert", body, "steme_live_nope"), 401, "unauthorized");
  expect(Post("/v1/assert", body, NewKeyString()), 401, "unauthorized");
  expect(
      http_->Request("POST", "/v1/assert", body, {{"Authorization", "Bearer " + NewKeyString()}}),
      401, "unauthorized");
  auto bearer =
      http_->Request("POST", "/v1/assert", body, {{"Authorization", "Bearer " + writer_.key}});
  ASSERT_TRUE(bearer) << Describe(bearer);
  EXPECT_EQ(bearer->status, 201) << Describe(*bearer);
  expect(Post("/v1/assert", body, reader_.key), 403, "forbidden");
  expect(Get("/v1/admin/api-keys", writer_.key), 403, "forbidden");
  expect(Get("/v1/assertions/0123456789abcdef0123456789abcdef", reader_.key), 404, "not_found");
  expect(Get("/v1/nothing-here", reader_.key), 404, "not_found");
  auto m = http_->Request("DELETE", "/v1/assert", {}, Auth(writer_.key));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 405) << Describe(*m);
  expect(Post("/v1/assert", body, writer_.key, {{"Idempotency-Key", "k1"}}), 201, "");
  expect(Post("/v1/assert", Serialize(Assertion("s", "p", 2, "a")), writer_.key,
              {{"Idempotency-Key", "k1"}}),
         409, "conflict");
  expect(Post("/v1/assert", Serialize(Assertion("s", "p", json::string(70000, 'x'), "a")),
              writer_.key),
         413, "too_large");
  expect(Post("/v1/assert", body, writer_.key, {{"Content-Type", "text/plain"}}), 415,
         "unsupported_media_type");
  expect(Post("/v1/assert", "{\"subject\":", writer_.key), 400, "invalid_json");
  expect(Post("/v1/assert", Serialize(Assertion("s", "p", 1, "")), writer_.key), 400,
         "invalid_field");
  json::object bad_conf = Assertion("s", "p", 1, "a");
  bad_conf["confidence"] = 1.5;
  expect(Post("/v1/assert", Serialize(bad_conf), writer_.key), 400, "invalid_field");
  // No error reply ever echoes a key.
  auto echo = Post("/v1/assert", body, "steme_live_" + std::string(48, 'f'));
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->body.find(std::string(48, 'f')), std::string::npos);
}

TEST_F(ApiTest, RateLimitAnswers429WithRetryAfter) {
  json::object req{
      {"label", "slow"}, {"role", "read_only"}, {"project", "alpha"}, {"rate_limit", "1/s,2"}};
  auto created = Post("/v1/admin/api-keys", Serialize(req), server_.root_key());
  ASSERT_TRUE(created && created->status == 201) << Describe(created);
  const std::string key = Str(ParseJson(created->body), "key");
  int limited = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = Get("/v1/query?subject=x", key);
    ASSERT_TRUE(r);
    if (r->status == 429) {
      ++limited;
      EXPECT_EQ(ErrorCode(*r), "rate_limited");
      EXPECT_FALSE(r->Header("Retry-After").empty());
    }
  }
  EXPECT_GE(limited, 3);
}

TEST_F(ApiTest, ProjectIsolation) {
  const std::string id = Str(Write("secret", "p", "alpha-only"), "id");
  auto r = Get("/v1/assertions/" + id, other_.key);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << "project beta sees alpha's assertion: " << Describe(*r);
  auto missing = Get("/v1/assertions/0123456789abcdef0123456789abcdef", other_.key);
  EXPECT_EQ(ParseJson(r->body), ParseJson(missing->body)) << "404s differ: existence leaks";
  auto q = Get("/v1/query?subject=secret", other_.key);
  ASSERT_TRUE(q && q->status == 200);
  EXPECT_EQ(Count(*q), 0u) << q->body;
  auto b = Get("/v1/beliefs?subject=secret", other_.key);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->body.find("alpha-only"), std::string::npos) << b->body;
  auto cross = Post("/v1/retract", Serialize(json::object{{"id", id}}), other_.key);
  ASSERT_TRUE(cross);
  EXPECT_EQ(cross->status, 404) << Describe(*cross);
  auto named = Get("/v1/query?subject=secret&project=alpha", other_.key);
  ASSERT_TRUE(named);
  EXPECT_EQ(named->status, 403) << Describe(*named);
  // The admin sees both, naming the project.
  auto admin = Get("/v1/assertions/" + id + "?project=alpha", server_.root_key());
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->status, 200) << Describe(*admin);
}

TEST_F(ApiTest, RevocationAndRotationTakeEffectAtOnce) {
  auto k = CreateKey(*http_, server_.root_key(), "alpha", "read_only", "temp");
  ASSERT_TRUE(k);
  ASSERT_EQ(Get("/v1/query?subject=x", k->key)->status, 200);
  auto del =
      http_->Request("DELETE", "/v1/admin/api-keys/" + k->key_id, {}, Auth(server_.root_key()));
  ASSERT_TRUE(del) << Describe(del);
  EXPECT_LT(del->status, 300) << Describe(*del);
  EXPECT_EQ(Get("/v1/query?subject=x", k->key)->status, 401);

  auto k2 = CreateKey(*http_, server_.root_key(), "alpha", "read_only", "rot");
  ASSERT_TRUE(k2);
  auto rot = Post("/v1/admin/api-keys/" + k2->key_id + "/rotate", "", server_.root_key());
  ASSERT_TRUE(rot && rot->status == 201) << Describe(rot);
  const std::string fresh = Str(ParseJson(rot->body), "key");
  EXPECT_EQ(Get("/v1/query?subject=x", k2->key)->status, 401) << "rotated-away key still works";
  EXPECT_EQ(Get("/v1/query?subject=x", fresh)->status, 200);

  auto list = Get("/v1/admin/api-keys", server_.root_key());
  ASSERT_TRUE(list && list->status == 200);
  for (const std::string& secret : std::vector<std::string>{writer_.key, reader_.key, fresh}) {
    EXPECT_EQ(list->body.find(secret), std::string::npos) << "key listing shows a secret";
  }
  auto audit = Get("/v1/admin/audit", server_.root_key());
  ASSERT_TRUE(audit && audit->status == 200) << Describe(audit);
  EXPECT_NE(audit->body.find(k->key_id), std::string::npos) << "revocation not audited";
}

TEST_F(ApiTest, RootKeySeededIdempotentlyAcrossRestarts) {
  const std::string root_id = KeyIdOf(server_.root_key());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(server_.Restart().ok()) << server_.StderrSinceStart();
  http_ = server_.Client();
  auto list = Get("/v1/admin/api-keys", server_.root_key());
  ASSERT_TRUE(list && list->status == 200) << Describe(list);
  size_t roots = 0;
  const json::value listed = ParseJson(list->body);
  for (const auto& k : listed.at("keys").as_array()) {
    if (Str(k, "key_id") == root_id) ++roots;
  }
  EXPECT_EQ(roots, 1u) << list->body;
  // Keys made before the restarts still work.
  EXPECT_EQ(Get("/v1/query?subject=x", reader_.key)->status, 200);
}

TEST_F(ApiTest, RegisteredAgentMustSign) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  char b64[128];
  sodium_bin2base64(b64, sizeof b64, pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
  auto reg =
      Post("/v1/agents", Serialize(json::object{{"agent_id", "signer"}, {"public_key", b64}}),
           writer_.key);
  ASSERT_TRUE(reg) << Describe(reg);
  EXPECT_LT(reg->status, 300) << Describe(*reg);
  auto unsigned_write = PostAssertion(*http_, writer_.key, Assertion("s", "p", 1, "signer"));
  ASSERT_TRUE(unsigned_write);
  EXPECT_EQ(unsigned_write->status, 401) << Describe(*unsigned_write);
  EXPECT_EQ(ErrorCode(*unsigned_write), "bad_signature");
  json::object forged = Assertion("s", "p", 1, "signer");
  // Well-formed (64 bytes, base64) but not a signature by the agent's key.
  unsigned char junk[crypto_sign_BYTES];
  randombytes_buf(junk, sizeof junk);
  char junk_b64[128];
  sodium_bin2base64(junk_b64, sizeof junk_b64, junk, sizeof junk, sodium_base64_VARIANT_ORIGINAL);
  forged["signature"] = junk_b64;
  auto bad = PostAssertion(*http_, writer_.key, forged);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401) << Describe(*bad);
  EXPECT_EQ(ErrorCode(*bad), "bad_signature");
}

TEST_F(ApiTest, CorsOnlyForAllowedOrigins) {
  auto none = http_->Request("GET", "/v1/health", {}, {{"Origin", "https://a.example"}});
  EXPECT_TRUE(none->Header("Access-Control-Allow-Origin").empty());
  server_.Stop();
  server_.SetEnv("STEMEDB_ALLOWED_ORIGINS", "https://a.example");
  ASSERT_TRUE(server_.Start().ok());
  http_ = server_.Client();
  auto yes = http_->Request("GET", "/v1/health", {}, {{"Origin", "https://a.example"}});
  EXPECT_EQ(yes->Header("Access-Control-Allow-Origin"), "https://a.example");
  auto no = http_->Request("GET", "/v1/health", {}, {{"Origin", "https://b.example"}});
  EXPECT_TRUE(no->Header("Access-Control-Allow-Origin").empty());
}

// Every path + method of /v1/openapi.json answers something other than
// 404/405 when called with the role it needs and real path parameters.
// HTTP/1.1 pipelining (docs/api.md "Connections"): writes sent without
// waiting are all acknowledged, in request order, with LSNs in that order;
// a query pipelined after them sees every one (it waits for them); a write
// with a bad body after it gets its 400 in turn.
TEST_F(ApiTest, PipelinedWritesThenAQueryOnOneConnection) {
  namespace net = boost::asio;
  namespace http = boost::beast::http;
  net::io_context ioc;
  net::ip::tcp::socket s(ioc);
  s.connect({net::ip::make_address("127.0.0.1"), server_.port()});
  constexpr int kWrites = 40;
  std::string wire;
  auto request = [&](const std::string& method, const std::string& target,
                     const std::string& body) {
    wire += method + " " + target + " HTTP/1.1\r\nHost: x\r\nX-API-Key: " + writer_.key +
            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body;
  };
  for (int i = 0; i < kWrites; ++i) {
    request("POST", "/v1/assert", json::serialize(Assertion("pipelined", "p", i, "agent-1")));
  }
  request("GET", "/v1/query?subject=pipelined&history=true&limit=100", "");
  request("POST", "/v1/assert", "{not json");
  net::write(s, net::buffer(wire));

  boost::beast::flat_buffer buf;
  uint64_t last_lsn = 0;
  for (int i = 0; i < kWrites; ++i) {
    http::response<http::string_body> res;
    http::read(s, buf, res);
    ASSERT_EQ(res.result_int(), 201) << i << ": " << res.body();
    json::value v = ParseJson(res.body());
    const uint64_t lsn = v.as_object().at("lsn").to_number<uint64_t>();
    EXPECT_GT(lsn, last_lsn) << "reply " << i << " out of request order";
    last_lsn = lsn;
    EXPECT_TRUE(res.keep_alive());
  }
  http::response<http::string_body> query;
  http::read(s, buf, query);
  ASSERT_EQ(query.result_int(), 200) << query.body();
  json::value q = ParseJson(query.body());
  const json::array& found = q.as_object().at("assertions").as_array();
  ASSERT_EQ(found.size(), static_cast<size_t>(kWrites)) << "the query did not see every write";
  std::set<int64_t> values;
  for (const json::value& a : found) values.insert(a.as_object().at("value").to_number<int64_t>());
  EXPECT_EQ(values.size(), static_cast<size_t>(kWrites));
  http::response<http::string_body> bad;
  http::read(s, buf, bad);
  EXPECT_EQ(bad.result_int(), 400) << bad.body();
}

TEST_F(ApiTest, EveryOpenApiRouteAnswers) {
  auto doc_r = http_->Request("GET", "/v1/openapi.json");
  ASSERT_TRUE(doc_r && doc_r->status == 200);
  json::value doc = ParseJson(doc_r->body);
  ASSERT_TRUE(doc.is_object() && doc.as_object().contains("paths"));
  const std::string id = Str(Write("openapi", "p", 1), "id");
  // Separate keys for revoke and rotate: the walk order is the document's.
  auto throwaway = CreateKey(*http_, server_.root_key(), "alpha", "read_only", "walk");
  auto rotatable = CreateKey(*http_, server_.root_key(), "alpha", "read_only", "walk-rotate");
  ASSERT_TRUE(throwaway && rotatable);
  ASSERT_TRUE(CreateKey(*http_, server_.root_key(), "walk-deleted", "read_only", "walk-delete"));
  size_t walked = 0;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      std::string m(method);
      if (m == "parameters" || m == "summary" || m == "description") continue;
      for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::string target(path);
      const bool admin = target.starts_with("/v1/admin");
      if (auto p = target.find("{id}"); p != std::string::npos) target.replace(p, 4, id);
      if (auto p = target.find("{key_id}"); p != std::string::npos) {
        target.replace(p, 8, target.ends_with("/rotate") ? rotatable->key_id : throwaway->key_id);
      }
      if (auto p = target.find("{project}"); p != std::string::npos) {
        // Deleting a project is walked on one of its own, so "alpha" stays.
        const bool deletes = m == "DELETE" && target == "/v1/admin/projects/{project}";
        target.replace(p, 9, deletes ? "walk-deleted" : "alpha");
      }
      if (target.find('{') != std::string::npos) ADD_FAILURE() << "unknown parameter in " << path;
      if (target == "/v1/query" || target == "/v1/beliefs") target += "?subject=openapi";
      const std::string key = admin ? server_.root_key() : writer_.key;
      auto r = http_->Request(m, target, m == "POST" ? "{}" : "", Auth(key));
      ASSERT_TRUE(r) << m << " " << target << ": " << Describe(r);
      EXPECT_NE(r->status, 404) << m << " " << target << " " << Describe(*r);
      EXPECT_NE(r->status, 405) << m << " " << target << " " << Describe(*r);
      ++walked;
    }
  }
  EXPECT_GE(walked, 18u) << "the document lists fewer operations than docs/api.md lists";
}

}  // namespace
}  // namespace stemedb::e2e
