// Router: the application side of the HTTP API (docs/api.md). Maps a parsed
// request to a reply; never touches a socket (see handler.h), so every route
// is tested without a network (tests/api/router_test.cc).
//
// PIPELINE (in this order; the first failing step answers):
//   1. match method + path against the route table (404 not_found for an
//      unknown path, 405 method_not_allowed + Allow for a known path with
//      another method); RequestMeta.route becomes the route template;
//   2. CORS: an Origin in STEMEDB_ALLOWED_ORIGINS gets Access-Control-*
//      headers on every reply; OPTIONS is answered as a preflight (204).
//      With an empty allow-list no CORS header is ever sent;
//   3. unauthenticated routes (/v1/health, /v1/ready, /metrics,
//      /v1/openapi.json) are served here;
//   4. readiness: 503 unavailable + Retry-After while Services::ready() is
//      false (replay, WAL fail-stopped, draining);
//   5. authentication: X-API-Key or Authorization: Bearer -> auth::Principal
//      (401 unauthorized);
//   6. rate limit per key (429 rate_limited + Retry-After);
//   7. role (403 forbidden, RoleMayCall): read routes any role but backup,
//      write routes write_agent or admin, /v1/admin/* admin, the backup
//      download admin or backup (a backup key may call nothing else);
//   8. project: a non-admin key's own project; an admin key names one with
//      ?project= on data routes (400 without it). A non-admin key naming
//      another project gets 403 (it learns nothing about that project);
//   9. body: 413 too_large over STEMEDB_MAX_BODY_BYTES, 415 for a POST body
//      whose Content-Type is not application/json;
//  10. the route itself (routes_data.cc, routes_admin.cc), which validates
//      (400), answers idempotent retries, checks the disk floor for writes
//      (507) and the in-flight write cap (503), and submits to the engine.
//
// DURABILITY: a write's 201 is sent from the engine's commit callback, i.e.
// after the WAL made it durable and the store applied it.
//
// THREADING: Handle() runs on any I/O thread, concurrently. Per-request state
// lives in a Call owned by the request; the Router's own state is immutable
// after construction except two atomics (in-flight writes, running backup).
// No lock is taken on the request path here (auth/ shards its own).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/error_reply.h"
#include "api/handler.h"
#include "api/services.h"
#include "auth/key_store.h"

namespace stemedb::api {

class Router : public Handler {
 public:
  // Every pointer in `services` must be non-null except `disk` (no disk
  // floor) and `metrics`; they must outlive the Router.
  explicit Router(Services services);
  ~Router() override;

  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  void Handle(Request request, std::shared_ptr<RequestMeta> meta, ReplyFn reply,
              StreamFn stream) override;

  // Who may call a route.
  enum class Access {
    kPublic,  // no key
    kRead,    // any role but backup
    kWrite,   // write_agent or admin
    kAdmin,   // admin
    kBackup,  // admin or backup: streaming backups (later WAL archiving)
  };
  // True iff a key of `role` may call a route of `access` (pipeline step 7).
  static bool RoleMayCall(auth::Role role, Access access);

  struct Call;
  using RouteFn = void (Router::*)(const std::shared_ptr<Call>&);

  // One entry of the route table (also the source of /v1/openapi.json's path list).
  struct Route {
    http::verb method;
    std::string_view path;  // template: "/v1/assertions/{id}"
    Access access;
    bool project_scoped;  // data route: needs a project
    // The pipeline answers 507 below the disk floor before calling the route.
    // False for the assertion writes: they check it themselves (AdmitWrite)
    // after answering idempotent retries, so a retry of a write that already
    // committed still gets its 201 while the disk is full.
    bool disk_floor;
    bool json_body;                        // POST body must be application/json
    std::vector<std::string_view> params;  // allowed query parameters
    RouteFn fn;
  };
  static const std::vector<Route>& Routes();

  // The OpenAPI 3.0 document served at /v1/openapi.json (openapi.cc).
  static const std::string& OpenApiJson();

  // Per-request state. Created by Handle(), shared with engine callbacks.
  struct Call {
    Request req;
    std::shared_ptr<RequestMeta> meta;
    ReplyFn reply;
    StreamFn stream;
    const Route* route = nullptr;
    std::string path_param;                                   // the {id} / {key_id} segment, if any
    std::vector<std::pair<std::string, std::string>> params;  // decoded query
    std::optional<auth::Principal> principal;                 // after auth
    std::string project;                                      // data routes: the resolved project
    std::string cors_origin;                                  // "" = send no CORS headers
    int64_t now_us = 0;                                       // wall clock at arrival

    // The decoded value of query parameter `name`, if given.
    const std::string* Param(std::string_view name) const;
  };

 private:
  // --- pipeline (router.cc) ---
  void Send(const std::shared_ptr<Call>& call, Response res);
  void SendJson(const std::shared_ptr<Call>& call, unsigned status, std::string body);
  void SendError(const std::shared_ptr<Call>& call, const ApiError& error);
  bool Authenticate(const std::shared_ptr<Call>& call);
  bool ResolveProject(const std::shared_ptr<Call>& call);
  // Checks the disk floor and the in-flight cap, then counts one write in.
  // False (after replying) if the write must not proceed.
  bool AdmitWrite(const std::shared_ptr<Call>& call);
  void WriteDone() { inflight_writes_.fetch_sub(1, std::memory_order_relaxed); }
  bool IsAdmin(const Call& call) const;

  // --- unauthenticated routes (router.cc) ---
  void Health(const std::shared_ptr<Call>& call);
  void Ready(const std::shared_ptr<Call>& call);
  void MetricsText(const std::shared_ptr<Call>& call);
  void OpenApi(const std::shared_ptr<Call>& call);

  // --- data routes (routes_data.cc) ---
  void Assert(const std::shared_ptr<Call>& call);
  void AssertBatch(const std::shared_ptr<Call>& call);
  void Retract(const std::shared_ptr<Call>& call);
  void GetAssertion(const std::shared_ptr<Call>& call);
  void Query(const std::shared_ptr<Call>& call);
  void Beliefs(const std::shared_ptr<Call>& call);
  void RegisterAgent(const std::shared_ptr<Call>& call);
  void Usage(const std::shared_ptr<Call>& call);
  // Shared by the three write routes: signature check, idempotency, submit.
  ApiResult<void> CheckSignature(const Call& call, engine::NewAssertion* a) const;
  void SubmitAssertions(const std::shared_ptr<Call>& call, std::vector<engine::NewAssertion> list,
                        bool batch);

  // --- admin routes (routes_admin.cc) ---
  void CreateKey(const std::shared_ptr<Call>& call);
  void ListKeys(const std::shared_ptr<Call>& call);
  void RevokeKey(const std::shared_ptr<Call>& call);
  void RotateKey(const std::shared_ptr<Call>& call);
  void Audit(const std::shared_ptr<Call>& call);
  void AdminUsage(const std::shared_ptr<Call>& call);
  void Backup(const std::shared_ptr<Call>& call);

  const Services s_;
  std::atomic<size_t> inflight_writes_{0};
  std::atomic<bool> backup_running_{false};
};

// The body of GET /v1/query: {"assertions":[<stored JSON>...],
// "next_cursor":"..."|null,"as_of_lsn":N}; stored objects are spliced in
// verbatim (plus "retracted" fields for retracted versions in history mode).
std::string EncodeQueryPage(const engine::QueryPage& page);

// A fresh server-assigned id: 32 lowercase hex of 16 random bytes (libsodium).
std::string NewId();

// Lowercase hex BLAKE2b-256 of method, route template and body: the request
// hash stored with an Idempotency-Key.
std::string RequestHash(std::string_view method, std::string_view route, std::string_view body);

// Percent-decodes a query component ('+' is a space). nullopt on a bad escape.
std::optional<std::string> PercentDecode(std::string_view text);

// True if `text` is well-formed UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(std::string_view text);

}  // namespace stemedb::api
