#include "api/router.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>

#include "api/json_validation.h"
#include "auth/key_store.h"
#include "util/logging.h"
#include "util/time_format.h"

namespace stemedb::api {
namespace {

// Splits "/a/b/c" into its segments without allocating.
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

bool IsJsonContentType(std::string_view ct) {
  // "application/json" optionally followed by parameters ("; charset=utf-8").
  size_t semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  static constexpr std::string_view kJson = "application/json";
  if (media.size() != kJson.size()) return false;
  for (size_t i = 0; i < media.size(); ++i) {
    char c = media[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kJson[i]) return false;
  }
  return true;
}

constexpr std::string_view kAllowHeaders =
    "Authorization, Content-Type, Idempotency-Key, X-API-Key";

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
  // buys nothing here (it was the larger part of NewId).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '\0');
  for (size_t i = 0; i < sizeof bytes; ++i) {
    id[2 * i] = kHex[bytes[i] >> 4];
    id[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return id;
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

void Router::Send(const std::shared_ptr<Call>& call, Response res) {
  if (!call->cors_origin.empty()) {
    res.set(http::field::access_control_allow_origin, call->cors_origin);
    res.set(http::field::vary, "Origin");
    res.set(http::field::access_control_expose_headers, "Retry-After");
  }
  if (call->principal && s_.meter != nullptr) {
    s_.meter->RecordRequest(call->principal->key_id, call->principal->project,
                            call->req.body().size(), res.body().size(), call->now_us);
  }
  ReplyFn reply = std::move(call->reply);
  reply(std::move(res));
}

void Router::SendJson(const std::shared_ptr<Call>& call, unsigned status, std::string body) {
  Send(call, JsonResponse(status, std::move(body), call->req.version(), call->req.keep_alive()));
}

void Router::SendError(const std::shared_ptr<Call>& call, const ApiError& error) {
  Send(call, ErrorResponse(error, call->req.version(), call->req.keep_alive()));
}

void Router::Handle(Request request, std::shared_ptr<RequestMeta> meta, ReplyFn reply,
                    StreamFn stream) {
  auto call = std::make_shared<Call>();
  call->req = std::move(request);
  call->meta = std::move(meta);
  call->reply = std::move(reply);
  call->stream = std::move(stream);
  call->now_us = UnixMicrosNow();

  // CORS: exact origin match against the allow-list ("*" allows any).
  if (auto it = call->req.find(http::field::origin); it != call->req.end()) {
    std::string_view origin = it->value();
    for (const auto& allowed : s_.config->allowed_origins) {
      if (allowed == origin || allowed == "*") {
        call->cors_origin = std::string(origin);
        break;
      }
    }
  }

  std::string_view target = call->req.target();
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);

  // Route lookup: remember whether the path exists with another method.
  const Route* route = nullptr;
  bool path_exists = false;
  std::string_view param;
  for (const Route& r : Routes()) {
    std::string_view p;
    if (!MatchPath(r.path, path, &p)) continue;
    path_exists = true;
    if (r.method == call->req.method()) {
      route = &r;
      param = p;
      call->meta->route = std::string(r.path);
    }
  }
  if (!path_exists) return SendError(call, NotFoundError("no such route"));
  // The methods of this path (for OPTIONS and 405), built only when needed.
  auto allowed_methods = [&] {
    std::string allow;
    for (const Route& r : Routes()) {
      std::string_view ignored;
      if (!MatchPath(r.path, path, &ignored)) continue;
      if (!allow.empty()) allow += ", ";
      allow += http::to_string(r.method);
    }
    return allow;
  };
  if (call->req.method() == http::verb::options) {
    // Preflight (or a plain OPTIONS): no auth, the allowed methods.
    Response res{http::status::no_content, call->req.version()};
    res.keep_alive(call->req.keep_alive());
    const std::string allow = allowed_methods();
    res.set(http::field::allow, allow + ", OPTIONS");
    if (!call->cors_origin.empty()) {
      res.set(http::field::access_control_allow_methods, allow + ", OPTIONS");
      res.set(http::field::access_control_allow_headers, kAllowHeaders);
      res.set(http::field::access_control_max_age, "600");
    }
    res.prepare_payload();
    return Send(call, std::move(res));
  }
  if (route == nullptr) {
    Response res = ErrorResponse(
        MethodNotAllowed(std::string(http::to_string(call->req.method())) + " not allowed here"),
        call->req.version(), call->req.keep_alive());
    res.set(http::field::allow, allowed_methods());
    return Send(call, std::move(res));
  }
  call->route = route;
  call->path_param = std::string(param);

  // Query string: decoded, only the route's parameters, none twice.
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq));
    auto value =
        PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!key || !value || !IsValidUtf8(*value) || !IsValidUtf8(*key)) {
      return SendError(call, InvalidField("query", "bad percent-encoding or UTF-8"));
    }
    bool known = false;
    for (auto allowed : route->params) known = known || allowed == *key;
    if (!known) return SendError(call, InvalidField(*key, "unknown query parameter"));
    if (call->Param(*key) != nullptr) return SendError(call, InvalidField(*key, "given twice"));
    call->params.emplace_back(std::move(*key), std::move(*value));
  }

  if (route->access == Access::kPublic) return (this->*route->fn)(call);

  if (s_.serving ? !s_.serving() : (s_.ready && !s_.ready())) {
    return SendError(call, Unavailable("server is not ready (starting, replaying or draining)"));
  }
  if (!Authenticate(call)) return;

  const auth::Principal& p = *call->principal;
  if (s_.limiter != nullptr && !p.key_id.empty()) {
    auth::RateDecision d =
        s_.limiter->Acquire(p.key_id, p.rate_limit, std::chrono::steady_clock::now());
    if (!d.allowed) {
      if (s_.meter != nullptr) s_.meter->RecordRateLimited(p.key_id, p.project);
      if (s_.metrics != nullptr) s_.metrics->AddRateLimited(p.project);
      return SendError(call, RateLimited(static_cast<unsigned>(std::ceil(d.retry_after_seconds))));
    }
  }

  if (!RoleMayCall(p.role, route->access)) {
    return SendError(call, Forbidden(std::string("role ") + std::string(auth::RoleName(p.role)) +
                                     " may not call " + std::string(route->path)));
  }
  if (route->project_scoped && !ResolveProject(call)) return;

  if (call->req.body().size() > s_.config->max_body_bytes) {
    return SendError(call, TooLarge("request body exceeds STEMEDB_MAX_BODY_BYTES"));
  }
  if (route->disk_floor && s_.disk != nullptr && !s_.disk->writes_allowed()) {
    return SendError(call, InsufficientStorage("free disk space is below STEMEDB_MIN_FREE_BYTES; "
                                               "writes are refused, reads go on"));
  }
  if (call->req.method() == http::verb::post) {
    auto ct = call->req.find(http::field::content_type);
    bool has_ct = ct != call->req.end();
    bool needs_json = route->json_body || !call->req.body().empty() || has_ct;
    if (needs_json && (!has_ct || !IsJsonContentType(ct->value()))) {
      return SendError(call, UnsupportedMediaType("Content-Type must be application/json"));
    }
  }
  (this->*route->fn)(call);
}

bool Router::Authenticate(const std::shared_ptr<Call>& call) {
  if (!s_.config->auth_enabled) {
    // STEMEDB_AUTH_ENABLED=false is loopback-only (startup guard 2): every
    // caller is an anonymous admin, metered under no key.
    auth::Principal anon;
    anon.role = auth::Role::kAdmin;
    call->principal = std::move(anon);
    return true;
  }
  std::string_view key;
  if (auto it = call->req.find("X-API-Key"); it != call->req.end()) {
    key = it->value();
  } else if (auto auth = call->req.find(http::field::authorization); auth != call->req.end()) {
    std::string_view v = auth->value();
    static constexpr std::string_view kBearer = "Bearer ";
    if (v.size() > kBearer.size() && strncasecmp(v.data(), kBearer.data(), kBearer.size()) == 0) {
      key = v.substr(kBearer.size());
    }
  }
  if (key.empty()) {
    SendError(call, Unauthorized("missing API key (X-API-Key or Authorization: Bearer)"));
    return false;
  }
  auto principal = s_.keys->Authenticate(key, call->now_us);
  if (!principal) {
    // Never the presented key, never why exactly (unknown vs revoked).
    SendError(call, Unauthorized("invalid API key"));
    return false;
  }
  call->principal = std::move(*principal);
  call->meta->key_id = call->principal->key_id;
  call->meta->project = call->principal->project;
  return true;
}

bool Router::ResolveProject(const std::shared_ptr<Call>& call) {
  const std::string* asked = call->Param("project");
  const auth::Principal& p = *call->principal;
  if (p.role != auth::Role::kAdmin) {
    if (asked != nullptr && *asked != p.project) {
      SendError(call, Forbidden("this key is bound to another project"));
      return false;
    }
    call->project = p.project;
  } else if (asked != nullptr) {
    if (auto valid = CheckProjectName(*asked); !valid) {
      SendError(call, valid.error());
      return false;
    }
    call->project = *asked;
  } else if (!s_.config->auth_enabled) {
    call->project = "default";
  } else {
    SendError(call, InvalidField("project", "an admin key must name the project (?project=)"));
    return false;
  }
  call->meta->project = call->project;
  return true;
}

bool Router::AdmitWrite(const std::shared_ptr<Call>& call) {
  if (s_.disk != nullptr && !s_.disk->writes_allowed()) {
    SendError(call, InsufficientStorage("free disk space is below STEMEDB_MIN_FREE_BYTES; "
                                        "writes are refused, reads go on"));
    return false;
  }
  size_t cap = s_.config->max_inflight_writes;
  if (inflight_writes_.fetch_add(1, std::memory_order_relaxed) >= cap && cap > 0) {
    WriteDone();
    SendError(call, Unavailable("too many writes in flight", 1));
    return false;
  }
  return true;
}

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
  static const std::vector<Route> kRoutes = {
      {V::get, "/v1/health", Access::kPublic, false, false, false, {}, &Router::Health},
      {V::get, "/v1/ready", Access::kPublic, false, false, false, {}, &Router::Ready},
      {V::get, "/metrics", Access::kPublic, false, false, false, {}, &Router::MetricsText},
      {V::get, "/v1/openapi.json", Access::kPublic, false, false, false, {}, &Router::OpenApi},
      {V::post, "/v1/assert", Access::kWrite, true, false, true, {"project"}, &Router::Assert},
      {V::post,
       "/v1/assert/batch",
       Access::kWrite,
       true,
       false,
       true,
       {"project"},
       &Router::AssertBatch},
      {V::post, "/v1/retract", Access::kWrite, true, false, true, {"project"}, &Router::Retract},
      {V::get,
       "/v1/assertions/{id}",
       Access::kRead,
       true,
       false,
       false,
       {"project"},
       &Router::GetAssertion},
      {V::get,
       "/v1/query",
       Access::kRead,
       true,
       false,
       false,
       {"project", "subject", "predicate", "agent_id", "as_of", "history", "limit", "cursor"},
       &Router::Query},
      {V::get,
       "/v1/beliefs",
       Access::kRead,
       true,
       false,
       false,
       {"project", "subject", "predicate", "as_of"},
       &Router::Beliefs},
      {V::post,
       "/v1/agents",
       Access::kWrite,
       true,
       true,
       true,
       {"project"},
       &Router::RegisterAgent},
      {V::get, "/v1/usage", Access::kRead, false, false, false, {}, &Router::Usage},
      {V::post, "/v1/admin/api-keys", Access::kAdmin, false, true, true, {}, &Router::CreateKey},
      {V::get,
       "/v1/admin/api-keys",
       Access::kAdmin,
       false,
       false,
       false,
       {"project"},
       &Router::ListKeys},
      {V::delete_,
       "/v1/admin/api-keys/{key_id}",
       Access::kAdmin,
       false,
       true,
       false,
       {},
       &Router::RevokeKey},
      {V::post,
       "/v1/admin/api-keys/{key_id}/rotate",
       Access::kAdmin,
       false,
       true,
       false,
       {},
       &Router::RotateKey},
      {V::get,
       "/v1/admin/audit",
       Access::kAdmin,
       false,
       false,
       false,
       {"limit", "before"},
       &Router::Audit},
      {V::get,
       "/v1/admin/usage",
       Access::kAdmin,
       false,
       false,
       false,
       {"project"},
       &Router::AdminUsage},
      {V::get, "/v1/admin/backup", Access::kBackup, false, false, false, {}, &Router::Backup},
  };
  return kRoutes;
}

}  // namespace stemedb::api
