// Fuzz target: the HTTP request path behind the socket. The input is raw
// bytes off the wire: Beast's request parser with the transport's limits
// (api/session.h TransportOptions) splits it into pipelined requests, and
// each parsed request goes through the real Router over a real (temporary)
// database. The placeholders $ADMIN, $WRITER and $READER anywhere in the
// input are replaced by live API keys first, so the fuzzer gets past
// authentication into validation, the engine and the admin routes.
// Invariants: no crash; exactly one reply per request; every reply is a
// status docs/api.md documents, and every error carries the JSON error shape.
#include <boost/asio/buffer.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <set>
#include <string>

#include "api/router.h"
#include "api/services.h"
#include "api/session.h"
#include "auth/key_store.h"
#include "tests/fuzz/fuzz_target.h"
#include "util/time_format.h"

namespace {

using namespace stemedb;
namespace http = boost::beast::http;

// One database and router for the whole run (opening RocksDB per input would
// make the fuzzer a RocksDB-open benchmark). Writes accumulate; that is fine.
struct Fixture {
  std::string dir;
  api::ServerConfig config;
  std::unique_ptr<engine::Database> db;
  api::AuthServices auth_services;
  std::unique_ptr<api::Metrics> metrics;
  std::unique_ptr<api::DiskMonitor> disk;
  std::unique_ptr<api::Router> router;
  std::string admin, writer, reader;

  Fixture() {
    char tmpl[] = "/tmp/http_request_fuzz.XXXXXX";
    FUZZ_CHECK(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    config.allowed_origins = {"https://app.example"};
    config.max_body_bytes = 64 * 1024;
    config.auth_enabled = true;
    config.rate_limit_spec = auth::RateLimitSpec{1e9, 1e9};
    config.data_dir = dir;
    config.wal_dir = dir + "/wal";
    config.db_dir = dir + "/db";
    engine::DatabaseOptions opts = api::DatabaseOptionsFrom(config);
    opts.wal.sync_policy = wal::SyncPolicy::kNone;  // durability is not under test here
    opts.wal.segment_bytes = 4 << 20;
    opts.wal.preallocate_next_segment = false;
    auto opened = engine::Database::Open(opts, nullptr);
    FUZZ_CHECK(opened.has_value());
    db = std::move(*opened);
    auto services = api::OpenAuthServices(db.get(), config);
    FUZZ_CHECK(services.has_value());
    auth_services = std::move(*services);
    metrics = std::make_unique<api::Metrics>();
    disk = std::make_unique<api::DiskMonitor>(
        Env::Default(), std::vector<api::DiskMonitor::Volume>{{"db", dir}}, 0, nullptr);
    disk->PollOnce();
    api::Services s =
        api::MakeServices(&config, db.get(), auth_services, metrics.get(), disk.get());
    s.ready = [] { return true; };
    s.health_json = [] { return std::string(R"({"status":"ok"})"); };
    router = std::make_unique<api::Router>(std::move(s));
    admin = auth::GenerateKey();
    FUZZ_CHECK(auth_services.keys->SeedRootKey(admin, UnixMicrosNow()).has_value());
    writer = MakeKey(auth::Role::kWriteAgent);
    reader = MakeKey(auth::Role::kReadOnly);
  }

  ~Fixture() {
    // The apply thread's commit callbacks capture the Router: close first.
    if (db) (void)db->Close();
    router.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::string MakeKey(auth::Role role) {
    auth::CreateKeyRequest req;
    req.label = "fuzz";
    req.role = role;
    req.project = "fuzz";
    auto issued = auth_services.keys->Create(req, "fuzz", UnixMicrosNow());
    FUZZ_CHECK(issued.has_value());
    return issued->key;
  }
};

Fixture& TheFixture() {
  static Fixture* f = new Fixture();  // leaked on purpose: outlives atexit ordering
  return *f;
}

void ReplaceAll(std::string* s, std::string_view from, const std::string& to) {
  for (size_t pos = s->find(from); pos != std::string::npos; pos = s->find(from, pos + to.size())) {
    s->replace(pos, from.size(), to);
  }
}

const std::set<unsigned> kDocumentedStatus = {200, 201, 204, 400, 401, 403, 404, 405,
                                              409, 413, 415, 429, 500, 503, 507};

void CheckReply(const api::Response& res) {
  unsigned status = res.result_int();
  FUZZ_CHECK(kDocumentedStatus.count(status) == 1);
  FUZZ_CHECK(status != 500);  // an internal error on client input is a bug
  if (status >= 400) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(res.body(), ec);
    FUZZ_CHECK(!ec && v.is_object());
    const boost::json::value* err = v.as_object().if_contains("error");
    FUZZ_CHECK(err != nullptr && err->is_object());
    FUZZ_CHECK(err->as_object().contains("code") && err->as_object().contains("message"));
  }
}

void Dispatch(api::Request req) {
  Fixture& f = TheFixture();
  auto promise = std::make_shared<std::promise<api::Response>>();
  auto future = promise->get_future();
  auto meta = std::make_shared<api::RequestMeta>();
  f.router->Handle(
      std::move(req), meta, [promise](api::Response r) { promise->set_value(std::move(r)); },
      [promise](api::StreamingReply s) {
        bool ok = s.produce([](std::string_view) { return true; });
        FUZZ_CHECK(ok);
        promise->set_value(std::move(s.head));
      });
  FUZZ_CHECK(future.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  CheckReply(future.get());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = TheFixture();
  std::string wire(reinterpret_cast<const char*>(data), size);
  ReplaceAll(&wire, "$ADMIN", f.admin);
  ReplaceAll(&wire, "$WRITER", f.writer);
  ReplaceAll(&wire, "$READER", f.reader);
  api::TransportOptions limits;
  limits.max_body_bytes = f.config.max_body_bytes;
  size_t offset = 0;
  for (int requests = 0; offset < wire.size() && requests < 16; ++requests) {
    http::request_parser<http::string_body> parser;
    parser.eager(true);
    parser.header_limit(limits.max_header_bytes);
    parser.body_limit(limits.max_body_bytes);
    boost::system::error_code ec;
    size_t used = parser.put(boost::asio::buffer(wire.data() + offset, wire.size() - offset), ec);
    offset += used;
    if (ec == http::error::need_more) {
      parser.put_eof(ec);  // the peer closed: only a body-until-EOF request completes
    }
    if (ec || !parser.is_done()) return 0;  // the session answers 400/413 and closes
    Dispatch(parser.release());
    if (used == 0) break;
  }
  return 0;
}
