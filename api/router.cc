#include "api/router.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>

#include "api/cors.h"
#include "api/json_validation.h"
#include "auth/key_store.h"
#include "util/key_value_reader.h"
#include "util/logging.h"
#include "util/time_format.h"

namespace stemedb::api {
namespace {

// Reads "/a/b" as "a", "b" ("/a/" as "a", ""), without allocating: route
// matching runs for every route on every request.
class SegmentReader {
 public:
  explicit SegmentReader(std::string_view path) : path_(path) {}
  bool Next(std::string_view* segment) {
    if (pos_ > path_.size()) return false;
    size_t slash = path_.find('/', pos_);
    if (slash == std::string_view::npos) slash = path_.size();
    *segment = path_.substr(pos_, slash - pos_);
    pos_ = slash + 1;
    return true;
  }

 private:
  std::string_view path_;
  size_t pos_ = 1;  // past the leading '/'
};

// True if `path` matches `tmpl`; the {param} segment goes to *param (a view
// into `path`).
bool MatchPath(std::string_view tmpl, std::string_view path, std::string_view* param) {
  SegmentReader t(tmpl);
  SegmentReader p(path);
  std::string_view ts, ps, captured;
  for (;;) {
    const bool more = t.Next(&ts);
    if (more != p.Next(&ps)) return false;  // different segment counts
    if (!more) break;
    if (!ts.empty() && ts.front() == '{') {
      if (ps.empty()) return false;
      captured = ps;
    } else if (ts != ps) {
      return false;
    }
  }
  *param = captured;
  return true;
}

// True if the media type of `ct` is `type` (ASCII case-insensitive),
// optionally followed by parameters ("; charset=utf-8").
bool IsContentType(std::string_view ct, std::string_view type) {
  size_t semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  if (media.size() != type.size()) return false;
  for (size_t i = 0; i < media.size(); ++i) {
    char c = media[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != type[i]) return false;
  }
  return true;
}

// The path part of a request target ("/v1/query" of "/v1/query?subject=s").
std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// The methods `path` answers to, "GET, POST" (for Allow), in table order.
std::string AllowedMethods(std::string_view path) {
  std::string allow;
  for (const Router::Route& r : Router::Routes()) {
    std::string_view ignored;
    if (!MatchPath(r.path, path, &ignored)) continue;
    if (!allow.empty()) allow += ", ";
    allow += http::to_string(r.method);
  }
  return allow;
}

}  // namespace

const std::string* Router::Call::Param(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string NewId() {
  // The layout of UUIDv7, in hex: 8 bytes of time (microseconds since the
  // epoch, big-endian), then 8 random bytes. Ids, which are the keys of the
  // `assertions` column family, therefore arrive nearly in order: each
  // memtable insert starts at the previous one (engine/db_impl.cc sets an
  // insert hint) instead of at the top of the skiplist, and flushed SSTs
  // barely overlap, so compaction mostly moves files instead of merging
  // them. Uniqueness rests on the random half among ids of one microsecond.
  // Ids are public, not secrets; the time in them is the request's arrival.
  // Random bytes come from libsodium 512 ids at a time: one getrandom(2) per
  // id made a batch of 100 assertions 100 system calls.
  constexpr size_t kRandomBytes = 8;
  thread_local std::array<unsigned char, 512 * kRandomBytes> pool;
  thread_local size_t used = pool.size();
  if (used == pool.size()) {
    randombytes_buf(pool.data(), pool.size());
    used = 0;
  }
  unsigned char bytes[16];
  const uint64_t micros = static_cast<uint64_t>(std::max<int64_t>(0, UnixMicrosNow()));
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(micros >> (56 - 8 * i));
  std::memcpy(bytes + 8, pool.data() + used, kRandomBytes);
  used += kRandomBytes;
  // Plain table hex: ids are public, so sodium_bin2hex's constant time
  // buys nothing here.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '\0');
  for (size_t i = 0; i < sizeof bytes; ++i) {
    id[2 * i] = kHex[bytes[i] >> 4];
    id[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return id;
}

std::string NewIdTimeBound(int64_t micros) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t v = static_cast<uint64_t>(std::max<int64_t>(0, micros));
  std::string out(16, '0');
  for (int i = 0; i < 16; ++i) out[i] = kHex[(v >> (60 - 4 * i)) & 15];
  return out;
}

std::string DerivedId(std::string_view project, std::string_view id) {
  // A fixed key separates this use of BLAKE2b from every other; it is no
  // secret (ids are public). The NUL keeps ("ab", "c…") and ("a", "bc…") apart.
  static constexpr std::string_view kKey = "stemedb-derived-id-v1";
  crypto_generichash_state st;
  unsigned char digest[8];
  crypto_generichash_init(&st, reinterpret_cast<const unsigned char*>(kKey.data()), kKey.size(),
                          sizeof digest);
  const unsigned char zero = 0;
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(project.data()),
                            project.size());
  crypto_generichash_update(&st, &zero, 1);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(id.data()), id.size());
  crypto_generichash_final(&st, digest, sizeof digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(id.substr(0, 16));
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string RequestHash(std::string_view method, std::string_view route, std::string_view body) {
  crypto_generichash_state st;
  unsigned char out[32];
  crypto_generichash_init(&st, nullptr, 0, sizeof out);
  // NUL separators keep ("POST","/v1/x" + body) distinct from other splits.
  const unsigned char zero = 0;
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(method.data()),
                            method.size());
  crypto_generichash_update(&st, &zero, 1);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(route.data()),
                            route.size());
  crypto_generichash_update(&st, &zero, 1);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  crypto_generichash_final(&st, out, sizeof out);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  return std::string(hex, 64);
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      auto hexval = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      int hi = hexval(text[i + 1]);
      int lo = hexval(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

Router::Router(Services services) : s_(std::move(services)) {
  if (sodium_init() < 0) {
    // Without libsodium there are no ids and no hashes; nothing can be served.
    log::Error("router: sodium_init failed");
    std::abort();
  }
}

Router::~Router() = default;

bool Router::RoleMayCall(auth::Role role, Access access) {
  switch (role) {
    case auth::Role::kAdmin:
      return true;
    case auth::Role::kBackup:
      // Least privilege: a stolen backup key streams backups, nothing else.
      return access == Access::kBackup;
    case auth::Role::kWriteAgent:
      return access == Access::kRead || access == Access::kWrite;
    case auth::Role::kReadOnly:
      return access == Access::kRead;
  }
  return false;
}

bool Router::IsAdmin(const Call& call) const {
  return call.principal && call.principal->role == auth::Role::kAdmin;
}

// --- the pipeline ------------------------------------------------------------

void Router::Handle(Request request, std::shared_ptr<RequestMeta> meta, ReplyFn reply,
                    StreamFn stream) {
  auto call = std::make_shared<Call>();
  call->req = std::move(request);
  call->meta = std::move(meta);
  call->reply = std::move(reply);
  call->stream = std::move(stream);
  call->now_us = UnixMicrosNow();
  // Decided first: every reply, errors included, carries the CORS headers.
  call->cors_origin = CorsOrigin(s_.config->allowed_origins, call->req);

  if (auto r = MatchRoute(*call); !r) return SendError(call, r.error());
  if (call->req.method() == http::verb::options) return Preflight(call);
  if (auto r = ParseQuery(*call); !r) return SendError(call, r.error());
  if (call->route->access == Access::kPublic) return Dispatch(call);
  if (auto r = CheckServing(); !r) return SendError(call, r.error());
  if (auto r = Authenticate(*call); !r) return SendError(call, r.error());
  if (auto r = RateLimit(*call); !r) return SendError(call, r.error());
  if (auto r = Authorize(*call); !r) return SendError(call, r.error());
  if (auto r = CheckBodySize(*call); !r) return SendError(call, r.error());
  if (call->route->disk_floor) {
    if (auto r = CheckDiskFloor(); !r) return SendError(call, r.error());
  }
  if (auto r = CheckWritable(*call); !r) return SendError(call, r.error());
  if (auto r = CheckContentType(*call); !r) return SendError(call, r.error());
  Dispatch(call);
}

Overlap Router::Classify(const Request& request) const {
  const std::string_view path = PathOf(request.target());
  for (const Route& r : Routes()) {
    std::string_view param;
    if (r.method == request.method() && MatchPath(r.path, path, &param)) return r.overlap;
  }
  return Overlap::kNone;
}

ApiResult<void> Router::MatchRoute(Call& call) const {
  const std::string_view path = PathOf(call.req.target());
  bool path_exists = false;
  for (const Route& r : Routes()) {
    std::string_view param;
    if (!MatchPath(r.path, path, &param)) continue;
    path_exists = true;
    if (r.method != call.req.method()) continue;
    call.route = &r;
    call.path_param = std::string(param);
    call.meta->route = std::string(r.path);
  }
  if (!path_exists) return NotFoundError("no such route");
  // OPTIONS is in no route: on a known path it is a preflight (Preflight).
  if (call.route == nullptr && call.req.method() != http::verb::options) {
    return MethodNotAllowed(std::string(http::to_string(call.req.method())) + " not allowed here",
                            AllowedMethods(path));
  }
  return {};
}

void Router::Preflight(const std::shared_ptr<Call>& call) {
  // No key needed: a browser sends none with a preflight.
  Response res{http::status::no_content, call->req.version()};
  res.keep_alive(call->req.keep_alive());
  const std::string methods = AllowedMethods(PathOf(call->req.target())) + ", OPTIONS";
  res.set(http::field::allow, methods);
  SetPreflightHeaders(call->cors_origin, methods, &res);
  res.prepare_payload();
  Send(call, std::move(res));
}

ApiResult<void> Router::ParseQuery(Call& call) const {
  std::string_view target = call.req.target();
  const size_t q = target.find('?');
  KeyValueReader pairs(q == std::string_view::npos ? std::string_view() : target.substr(q + 1),
                       '&');
  while (auto pair = pairs.Next()) {
    auto key = PercentDecode(pair->key);
    auto value = PercentDecode(pair->value);
    if (!key || !value || !IsValidUtf8(*value) || !IsValidUtf8(*key)) {
      return InvalidField("query", "bad percent-encoding or UTF-8");
    }
    const auto& allowed = call.route->params;
    if (std::find(allowed.begin(), allowed.end(), *key) == allowed.end()) {
      return InvalidField(*key, "unknown query parameter");
    }
    if (call.Param(*key) != nullptr) return InvalidField(*key, "given twice");
    call.params.emplace_back(std::move(*key), std::move(*value));
  }
  return {};
}

ApiResult<void> Router::CheckServing() const {
  const bool serving = s_.serving ? s_.serving() : (!s_.ready || s_.ready());
  if (serving) return {};
  return Unavailable("server is not ready (starting, replaying or draining)");
}

ApiResult<void> Router::Authenticate(Call& call) const {
  if (!s_.config->auth_enabled) {
    // STEMEDB_AUTH_ENABLED=false is loopback-only (startup guard 2): every
    // caller is an anonymous admin, metered under no key.
    auth::Principal anon;
    anon.role = auth::Role::kAdmin;
    call.principal = std::move(anon);
    return {};
  }
  std::string_view key;
  if (auto it = call.req.find("X-API-Key"); it != call.req.end()) {
    key = it->value();
  } else if (auto auth = call.req.find(http::field::authorization); auth != call.req.end()) {
    std::string_view v = auth->value();
    static constexpr std::string_view kBearer = "Bearer ";
    if (v.size() > kBearer.size() && strncasecmp(v.data(), kBearer.data(), kBearer.size()) == 0) {
      key = v.substr(kBearer.size());
    }
  }
  if (key.empty()) return Unauthorized("missing API key (X-API-Key or Authorization: Bearer)");
  auto principal = s_.keys->Authenticate(key, call.now_us);
  // Never the presented key, never why exactly (unknown vs revoked).
  if (!principal) return Unauthorized("invalid API key");
  call.principal = std::move(*principal);
  call.meta->key_id = call.principal->key_id;
  call.meta->project = call.principal->project;
  return {};
}

ApiResult<void> Router::RateLimit(const Call& call) {
  const auth::Principal& p = *call.principal;
  if (s_.limiter == nullptr || p.key_id.empty()) return {};
  auth::RateDecision d =
      s_.limiter->Acquire(p.key_id, p.rate_limit, std::chrono::steady_clock::now());
  if (d.allowed) return {};
  if (s_.meter != nullptr) s_.meter->RecordRateLimited(p.key_id, p.project);
  if (s_.metrics != nullptr) s_.metrics->AddRateLimited(p.project);
  return RateLimited(static_cast<unsigned>(std::ceil(d.retry_after_seconds)));
}

ApiResult<void> Router::Authorize(Call& call) const {
  const auth::Principal& p = *call.principal;
  if (!RoleMayCall(p.role, call.route->access)) {
    return Forbidden(std::string("role ") + std::string(auth::RoleName(p.role)) + " may not call " +
                     std::string(call.route->path));
  }
  if (call.route->project_scoped) return ResolveProject(call);
  return {};
}

ApiResult<void> Router::ResolveProject(Call& call) const {
  const std::string* asked = call.Param("project");
  const auth::Principal& p = *call.principal;
  if (p.role != auth::Role::kAdmin) {
    if (asked != nullptr && *asked != p.project) {
      return Forbidden("this key is bound to another project");
    }
    call.project = p.project;
  } else if (asked != nullptr) {
    if (auto valid = CheckProjectName(*asked); !valid) return valid.error();
    call.project = *asked;
  } else if (!s_.config->auth_enabled) {
    call.project = "default";
  } else {
    return InvalidField("project", "an admin key must name the project (?project=)");
  }
  call.meta->project = call.project;
  return {};
}

ApiResult<void> Router::CheckBodySize(const Call& call) const {
  if (call.req.body().size() <= s_.config->max_body_bytes) return {};
  return TooLarge("request body exceeds STEMEDB_MAX_BODY_BYTES");
}

ApiResult<void> Router::CheckDiskFloor() const {
  if (s_.disk == nullptr || s_.disk->writes_allowed()) return {};
  return InsufficientStorage(
      "free disk space is below STEMEDB_MIN_FREE_BYTES; writes are refused, reads go on");
}

ApiResult<void> Router::CheckWritable(const Call& call) const {
  if (call.req.method() == http::verb::get || call.route->fn == &Router::Promote) return {};
  const Status refusal = s_.db->write_refusal();
  if (refusal.ok()) return {};
  return NotPrimary(refusal.message());
}

ApiResult<void> Router::CheckContentType(const Call& call) const {
  if (call.req.method() != http::verb::post) return {};
  auto ct = call.req.find(http::field::content_type);
  const bool has_ct = ct != call.req.end();
  if (call.route->ndjson_body) {
    if (!has_ct || !IsContentType(ct->value(), "application/x-ndjson")) {
      return UnsupportedMediaType("Content-Type must be application/x-ndjson");
    }
    return {};
  }
  const bool needs_json = call.route->json_body || !call.req.body().empty() || has_ct;
  if (needs_json && (!has_ct || !IsContentType(ct->value(), "application/json"))) {
    return UnsupportedMediaType("Content-Type must be application/json");
  }
  return {};
}

void Router::Dispatch(const std::shared_ptr<Call>& call) { (this->*call->route->fn)(call); }

void Router::Meter(const Call& call, size_t bytes_out) {
  if (!call.principal || s_.meter == nullptr) return;
  s_.meter->RecordRequest(call.principal->key_id, call.principal->project, call.req.body().size(),
                          bytes_out, call.now_us);
}

// --- replies -----------------------------------------------------------------

void Router::Send(const std::shared_ptr<Call>& call, Response res) {
  SetCorsHeaders(call->cors_origin, &res);
  Meter(*call, res.body().size());
  ReplyFn reply = std::move(call->reply);
  reply(std::move(res));
}

void Router::SendJson(const std::shared_ptr<Call>& call, unsigned status, std::string body) {
  Send(call, JsonResponse(status, std::move(body), call->req.version(), call->req.keep_alive()));
}

void Router::SendError(const std::shared_ptr<Call>& call, const ApiError& error) {
  Send(call, ErrorResponse(error, call->req.version(), call->req.keep_alive()));
}

void Router::StartStream(const std::shared_ptr<Call>& call, StreamingReply reply) {
  SetCorsHeaders(call->cors_origin, &reply.head);
  // The body's size is unknown until it has been streamed: counted as none.
  Meter(*call, 0);
  StreamFn stream = std::move(call->stream);
  stream(std::move(reply));
}

ApiResult<void> Router::AdmitWrite() {
  if (auto r = CheckDiskFloor(); !r) return r;
  size_t cap = s_.config->max_inflight_writes;
  if (inflight_writes_.fetch_add(1, std::memory_order_relaxed) >= cap && cap > 0) {
    WriteDone();
    return Unavailable("too many writes in flight", 1);
  }
  return {};
}

// --- unauthenticated routes ----------------------------------------------------

void Router::Health(const std::shared_ptr<Call>& call) {
  bool live = !s_.live || s_.live();
  SendJson(call, live ? 200 : 503, s_.health_json ? s_.health_json() : R"({"status":"ok"})");
}

void Router::Ready(const std::shared_ptr<Call>& call) {
  bool ready = !s_.ready || s_.ready();
  std::string body = s_.health_json ? s_.health_json() : R"({"status":"ok"})";
  if (ready) return SendJson(call, 200, std::move(body));
  Response res = JsonResponse(503, std::move(body), call->req.version(), call->req.keep_alive());
  res.set(http::field::retry_after, "1");
  Send(call, std::move(res));
}

void Router::MetricsText(const std::shared_ptr<Call>& call) {
  Response res{http::status::ok, call->req.version()};
  res.keep_alive(call->req.keep_alive());
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  if (s_.metrics != nullptr) {
    if (s_.db != nullptr) s_.metrics->UpdateFromDatabase(*s_.db);
    res.body() = s_.metrics->Render();
  }
  res.prepare_payload();
  Send(call, std::move(res));
}

void Router::OpenApi(const std::shared_ptr<Call>& call) { SendJson(call, 200, OpenApiJson()); }

const std::vector<Router::Route>& Router::Routes() {
  using V = http::verb;
  // clang-format off
  static const std::vector<Route> kRoutes = {
      {.method = V::get, .path = "/v1/health", .access = Access::kPublic,
       .fn = &Router::Health},
      {.method = V::get, .path = "/v1/ready", .access = Access::kPublic,
       .fn = &Router::Ready},
      {.method = V::get, .path = "/metrics", .access = Access::kPublic,
       .fn = &Router::MetricsText},
      {.method = V::get, .path = "/v1/openapi.json", .access = Access::kPublic,
       .fn = &Router::OpenApi},
      {.method = V::post, .path = "/v1/assert", .access = Access::kWrite,
       .project_scoped = true, .json_body = true,
       .params = {"project"},
       .overlap = Overlap::kWrite,
       .fn = &Router::Assert},
      {.method = V::post, .path = "/v1/assert/batch", .access = Access::kWrite,
       .project_scoped = true, .json_body = true,
       .params = {"project"},
       .overlap = Overlap::kWrite,
       .fn = &Router::AssertBatch},
      {.method = V::post, .path = "/v1/retract", .access = Access::kWrite,
       .project_scoped = true, .json_body = true,
       .params = {"project"},
       .overlap = Overlap::kWrite,
       .fn = &Router::Retract},
      {.method = V::get, .path = "/v1/assertions/{id}", .access = Access::kRead,
       .project_scoped = true,
       .params = {"project"},
       .overlap = Overlap::kRead,
       .fn = &Router::GetAssertion},
      {.method = V::get, .path = "/v1/query", .access = Access::kRead,
       .project_scoped = true,
       .params = {"project", "subject", "predicate", "agent_id", "as_of", "history", "limit",
                  "cursor"},
       .overlap = Overlap::kRead,
       .fn = &Router::Query},
      {.method = V::get, .path = "/v1/beliefs", .access = Access::kRead,
       .project_scoped = true,
       .params = {"project", "subject", "predicate", "as_of"},
       .overlap = Overlap::kRead,
       .fn = &Router::Beliefs},
      {.method = V::post, .path = "/v1/agents", .access = Access::kWrite,
       .project_scoped = true, .disk_floor = true, .json_body = true,
       .params = {"project"},
       .fn = &Router::RegisterAgent},
      {.method = V::get, .path = "/v1/usage", .access = Access::kRead,
       .fn = &Router::Usage},
      {.method = V::post, .path = "/v1/admin/api-keys", .access = Access::kAdmin,
       .disk_floor = true, .json_body = true,
       .fn = &Router::CreateKey},
      {.method = V::get, .path = "/v1/admin/api-keys", .access = Access::kAdmin,
       .params = {"project"},
       .fn = &Router::ListKeys},
      {.method = V::delete_, .path = "/v1/admin/api-keys/{key_id}", .access = Access::kAdmin,
       .disk_floor = true,
       .fn = &Router::RevokeKey},
      {.method = V::post, .path = "/v1/admin/api-keys/{key_id}/rotate", .access = Access::kAdmin,
       .disk_floor = true,
       .fn = &Router::RotateKey},
      {.method = V::get, .path = "/v1/admin/audit", .access = Access::kAdmin,
       .params = {"limit", "before"},
       .fn = &Router::Audit},
      {.method = V::get, .path = "/v1/admin/usage", .access = Access::kAdmin,
       .params = {"project"},
       .fn = &Router::AdminUsage},
      {.method = V::get, .path = "/v1/admin/backup", .access = Access::kBackup,
       .fn = &Router::Backup},
      {.method = V::post, .path = "/v1/admin/promote", .access = Access::kAdmin,
       .fn = &Router::Promote},
      {.method = V::post, .path = "/v1/admin/projects", .access = Access::kAdmin,
       .disk_floor = true, .json_body = true,
       .fn = &Router::CreateProject},
      {.method = V::get, .path = "/v1/admin/projects", .access = Access::kAdmin,
       .fn = &Router::ListProjects},
      {.method = V::get, .path = "/v1/admin/projects/{project}", .access = Access::kAdmin,
       .fn = &Router::DescribeProject},
      {.method = V::patch, .path = "/v1/admin/projects/{project}", .access = Access::kAdmin,
       .disk_floor = true, .json_body = true,
       .fn = &Router::UpdateProject},
      {.method = V::delete_, .path = "/v1/admin/projects/{project}", .access = Access::kAdmin,
       .fn = &Router::DeleteProject},
      {.method = V::post, .path = "/v1/admin/projects/{project}/erase", .access = Access::kAdmin,
       .json_body = true,
       .fn = &Router::EraseProjectData},
      {.method = V::get, .path = "/v1/admin/projects/{project}/holds", .access = Access::kAdmin,
       .fn = &Router::ListHolds},
      {.method = V::post, .path = "/v1/admin/projects/{project}/holds", .access = Access::kAdmin,
       .disk_floor = true,
       .fn = &Router::PlaceHold},
      {.method = V::delete_, .path = "/v1/admin/projects/{project}/holds", .access = Access::kAdmin,
       .params = {"subject"},
       .fn = &Router::ReleaseHold},
      {.method = V::post, .path = "/v1/admin/projects/{project}/recount", .access = Access::kAdmin,
       .fn = &Router::RecountProject},
      {.method = V::get, .path = "/v1/admin/projects/{project}/export", .access = Access::kAdmin,
       .params = {"as_of", "after"},
       .fn = &Router::ExportProject},
      {.method = V::post, .path = "/v1/admin/projects/{project}/import", .access = Access::kAdmin,
       .disk_floor = true, .ndjson_body = true,
       .params = {"line_offset", "ids"},
       .fn = &Router::ImportProject},
  };
  // clang-format on
  return kRoutes;
}

}  // namespace stemedb::api
