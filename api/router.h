// Router: the application side of the HTTP API (docs/api.md). Maps a parsed
// request to a reply; never touches a socket (see handler.h), so every route
// is tested without a network (tests/api/router_test.cc).
//
// PIPELINE: Handle() runs these steps in this order (router.cc); each passes
// or returns the error that answers the request, and the first error wins.
//   MatchRoute        method + path against the route table: 404 not_found
//                     for an unknown path, 405 method_not_allowed + Allow
//                     for a known path with another method.
//                     RequestMeta.route becomes the route template.
//   Preflight         OPTIONS on a known path: 204 with Allow (and the CORS
//                     preflight headers), no key.
//   ParseQuery        percent-decoded, only the route's parameters, none
//                     twice (400 invalid_field).
//   (public routes: /v1/health, /v1/ready, /metrics, /v1/openapi.json are
//    dispatched here, with no key)
//   CheckServing      503 unavailable + Retry-After while the server is not
//                     serving (Services::serving, else ::ready).
//   Authenticate      X-API-Key or Authorization: Bearer -> auth::Principal
//                     (401 unauthorized).
//   RateLimit         the key's token bucket (429 rate_limited + Retry-After).
//                     Before Authorize, so a key flooding forbidden calls is
//                     throttled too.
//   Authorize         the role (403 forbidden, RoleMayCall): read routes any
//                     role but backup, write routes write_agent or admin,
//                     /v1/admin/* admin, the backup download admin or backup;
//                     then, for project routes, the project: a non-admin
//                     key's own (403 if it names another), an admin key's
//                     ?project= (400 without it).
//   CheckBodySize     413 too_large over STEMEDB_MAX_BODY_BYTES.
//   CheckDiskFloor    507 insufficient_storage below STEMEDB_MIN_FREE_BYTES,
//                     for routes with Route::disk_floor.
//   CheckWritable     503 not_primary for any route but GET (and the
//                     promotion) while the store refuses writes (a warm
//                     standby, a fenced-off primary).
//   CheckContentType  415 for a POST body that is not application/json.
//   Dispatch          the route (routes_data.cc, routes_admin.cc): validates
//                     (400); a write answers an idempotent retry from its
//                     first reply (CheckIdempotency) before AdmitWrite
//                     (disk floor 507, in-flight cap 503) and the engine.
//   Meter             every reply (or stream) to an authenticated key is
//                     counted in its usage (Send, StartStream); CORS headers
//                     are added there too (api/cors.h).
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
  // The route's Route::overlap; kNone for an unknown route.
  Overlap Classify(const Request& request) const override;

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

  // One entry of the route table (also the source of /v1/openapi.json's path
  // list). Written with designated initializers; a field left out takes the
  // default below.
  struct Route {
    http::verb method;
    std::string_view path;  // template: "/v1/assertions/{id}"
    Access access;
    bool project_scoped = false;  // data route: Authorize resolves a project
    // The pipeline answers 507 below the disk floor before calling the route.
    // False for the assertion writes: they check it themselves (AdmitWrite)
    // after answering idempotent retries, so a retry of a write that already
    // committed still gets its 201 while the disk is full.
    bool disk_floor = false;
    bool json_body = false;    // POST body must be application/json
    bool ndjson_body = false;  // POST body must be application/x-ndjson (instead of JSON)
    std::vector<std::string_view> params = {};  // allowed query parameters
    // Pipelined requests (Handler::Classify): kWrite only for writes that
    // go to the engine in call order with nothing read before that a write
    // in flight could change; kRead for reads of data only.
    Overlap overlap = Overlap::kNone;
    RouteFn fn = nullptr;
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
  // --- pipeline steps, in Handle's order (router.cc; see PIPELINE above).
  // A check returns OK to go on, or the error that answers the request. ---
  ApiResult<void> MatchRoute(Call& call) const;
  void Preflight(const std::shared_ptr<Call>& call);
  ApiResult<void> ParseQuery(Call& call) const;
  ApiResult<void> CheckServing() const;
  ApiResult<void> Authenticate(Call& call) const;
  ApiResult<void> RateLimit(const Call& call);
  ApiResult<void> Authorize(Call& call) const;
  ApiResult<void> ResolveProject(Call& call) const;  // part of Authorize
  ApiResult<void> CheckBodySize(const Call& call) const;
  ApiResult<void> CheckDiskFloor() const;
  // 503 not_primary for every route but GET and the promotion while the store
  // refuses writes (engine::Database::write_refusal: a standby, a fenced-off
  // primary).
  ApiResult<void> CheckWritable(const Call& call) const;
  ApiResult<void> CheckContentType(const Call& call) const;
  void Dispatch(const std::shared_ptr<Call>& call);
  // Counts a reply of `bytes_out` body bytes in the caller's usage (no-op
  // before authentication, or without a meter).
  void Meter(const Call& call, size_t bytes_out);

  // --- replies: each adds the CORS headers, meters, and hands over ---
  void Send(const std::shared_ptr<Call>& call, Response res);
  void SendJson(const std::shared_ptr<Call>& call, unsigned status, std::string body);
  void SendError(const std::shared_ptr<Call>& call, const ApiError& error);
  void StartStream(const std::shared_ptr<Call>& call, StreamingReply reply);

  // The write routes' admission, after idempotent retries were answered:
  // the disk floor (507), then the in-flight cap (503); on success one write
  // is counted in, and WriteDone() must follow.
  ApiResult<void> AdmitWrite();
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
  void Promote(const std::shared_ptr<Call>& call);

  // --- project registry (routes_projects.cc) ---
  void CreateProject(const std::shared_ptr<Call>& call);
  void ListProjects(const std::shared_ptr<Call>& call);
  void DescribeProject(const std::shared_ptr<Call>& call);
  void UpdateProject(const std::shared_ptr<Call>& call);
  void RecountProject(const std::shared_ptr<Call>& call);
  // Before a write into call.project by an admin key (which may name any
  // project): registers the project with the defaults, or, under a strict
  // registry, refuses (404) if it is not registered. Other keys' projects
  // were registered with the key.
  ApiResult<void> CheckProjectRegistered(const Call& call);

  // --- project deletion, erasure, legal holds (routes_erasure.cc) ---
  void DeleteProject(const std::shared_ptr<Call>& call);
  void EraseProjectData(const std::shared_ptr<Call>& call);
  void PlaceHold(const std::shared_ptr<Call>& call);
  void ReleaseHold(const std::shared_ptr<Call>& call);
  void ListHolds(const std::shared_ptr<Call>& call);

  // --- project export and import (routes_export.cc) ---
  void ExportProject(const std::shared_ptr<Call>& call);
  void ImportProject(const std::shared_ptr<Call>& call);

  const Services s_;
  std::atomic<size_t> inflight_writes_{0};
  std::atomic<bool> backup_running_{false};
};

// The body of GET /v1/query: {"assertions":[<stored JSON>...],
// "next_cursor":"..."|null,"as_of_lsn":N}; stored objects are spliced in
// verbatim (plus "retracted" fields for retracted versions in history mode).
std::string EncodeQueryPage(const engine::QueryPage& page);

// The as_of query parameter of docs/api.md: "lsn:N" (at most the applied
// LSN) or an RFC 3339 time (the last LSN recorded at or before it); nullopt
// when absent (`text` null) = the current state.
ApiResult<std::optional<Lsn>> ParseAsOf(engine::Database& db, const std::string* text);

// A fresh server-assigned id: 32 lowercase hex of 16 random bytes (libsodium).
std::string NewId();
// The first 16 hex digits (the creation time) an id made at `micros` has:
// every id made before `micros` sorts below it.
std::string NewIdTimeBound(int64_t micros);

// The id of a copy of record `id` (a well-formed id) imported into `project`
// with ids=derive (docs/projects.md "Export and import"): the creation-time
// half of `id` (so it sorts, and NewIdTimeBound bounds it, like the
// original), then the first 8 bytes of BLAKE2b, keyed with
// "stemedb-derived-id-v1", of project, a NUL byte and `id`, in hex. The same
// on every server and release, so a re-run of the import finds its records.
std::string DerivedId(std::string_view project, std::string_view id);

// Lowercase hex BLAKE2b-256 of method, route template and body: the request
// hash stored with an Idempotency-Key.
std::string RequestHash(std::string_view method, std::string_view route, std::string_view body);

// Percent-decodes a query component ('+' is a space). nullopt on a bad escape.
std::optional<std::string> PercentDecode(std::string_view text);

// True if `text` is well-formed UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(std::string_view text);

}  // namespace stemedb::api
