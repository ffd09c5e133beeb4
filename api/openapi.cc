// GET /v1/openapi.json: the OpenAPI 3.0 description of every route, built
// once from three sources so that nothing is stated twice:
//   - the route table (Router::Routes(), router.cc): paths, methods, query
//     parameters, who may call, and which pipeline checks run, hence which
//     error statuses the pipeline can answer (router.h PIPELINE);
//   - the error constructors (error_reply.h): the codes of the Error schema
//     and every error example, rendered by ErrorJson() as the server does;
//   - the table in OpenApiJson(), keyed by each route's handler: the
//     operationId, summary, bodies, success replies and the errors only the
//     handler itself answers.
// A route without an entry aborts the build of the document, which the api
// tests catch. operationIds are a contract (docs/api.md "OpenAPI and generated
// clients"): renaming
// one breaks every generated client.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdlib>
#include <map>
#include <set>

#include "api/json_validation.h"
#include "api/router.h"
#include "auth/project_name.h"
#include "engine/project_record.h"

namespace stemedb::api {
namespace {

namespace json = boost::json;

// --- schema builders ---

json::object Ref(std::string_view kind, std::string_view name) {
  return {{"$ref", "#/components/" + std::string(kind) + "/" + std::string(name)}};
}
json::object Schema(std::string_view name) { return Ref("schemas", name); }

json::object Typed(const char* type, std::string_view description) {
  json::object o{{"type", type}};
  if (!description.empty()) o["description"] = description;
  return o;
}
json::object Str(std::string_view description = {}) { return Typed("string", description); }
json::object Int(std::string_view description = {}) { return Typed("integer", description); }
json::object Bool(std::string_view description = {}) { return Typed("boolean", description); }
json::object Time(std::string_view description = {}) {
  json::object o = Str(description);
  o["format"] = "date-time";
  return o;
}
json::object Lsn(std::string_view description = {}) {
  json::object o = Int(description);
  o["format"] = "int64";
  o["minimum"] = 0;
  return o;
}
json::object Nullable(json::object o) {
  o["nullable"] = true;
  return o;
}
json::object Hex(size_t digits, std::string_view description) {
  json::object o = Str(description);
  o["pattern"] = "^[0-9a-f]{" + std::to_string(digits) + "}$";
  return o;
}
json::object Id(std::string_view description = "32 lowercase hex digits") {
  return Hex(32, description);
}
json::object KeyId() { return Hex(16, "16 lowercase hex digits"); }
// A string of 1..`max` bytes; JSON Schema counts characters, so maxLength is
// an upper bound the byte limit always satisfies.
json::object Bytes(size_t max) {
  json::object o = Str("1.." + std::to_string(max) + " bytes of UTF-8, no NUL");
  o["minLength"] = 1;
  o["maxLength"] = max;
  return o;
}
json::object Enum(std::initializer_list<std::string_view> values) {
  json::array a;
  for (std::string_view v : values) a.emplace_back(v);
  return {{"type", "string"}, {"enum", std::move(a)}};
}
constexpr auth::Role kRoles[] = {auth::Role::kAdmin, auth::Role::kWriteAgent, auth::Role::kReadOnly,
                                 auth::Role::kBackup};
json::object RoleEnum() {
  json::array names;
  for (auth::Role role : kRoles) names.emplace_back(auth::RoleName(role));
  return {{"type", "string"}, {"enum", std::move(names)}};
}
json::object ArrayOf(json::value items) { return {{"type", "array"}, {"items", std::move(items)}}; }

using Props = std::initializer_list<std::pair<std::string_view, json::value>>;

// An object schema with its example (JSON text, parsed here so that a typo
// fails every test at once).
json::object Obj(Props props, std::initializer_list<std::string_view> required,
                 std::string_view example = {}) {
  json::object p;
  for (const auto& [k, v] : props) p[k] = v;
  json::object o{{"type", "object"}, {"properties", std::move(p)}};
  if (required.size() > 0) {
    json::array r;
    for (std::string_view k : required) r.emplace_back(k);
    o["required"] = std::move(r);
  }
  if (!example.empty()) o["example"] = json::parse(example);
  return o;
}
// Request bodies: the server refuses unknown fields (docs/api.md
// "Conventions"). Replies stay open, so a new reply field is a compatible
// change; tests/openapi/ validates replies with every object closed, so each
// field the server sends is documented.
json::object Closed(json::object o) {
  o["additionalProperties"] = false;
  return o;
}

// --- errors (error_reply.h is the one table of codes and statuses) ---

// One ApiError per code, with a message the server really sends.
std::vector<ApiError> ErrorKinds() {
  return {InvalidField("subject", "must be 1..512 bytes without NUL"),
          InvalidJson("body is not valid JSON"),
          Unauthorized("invalid API key"),
          BadSignature("agent sensor-7 has a registered public key: the assertion must be signed"),
          Forbidden("role read_only may not call /v1/assert"),
          NotFoundError("no such assertion"),
          MethodNotAllowed("PUT not allowed here"),
          ConflictError("Idempotency-Key was already used with a different request"),
          TooLarge("request body exceeds STEMEDB_MAX_BODY_BYTES"),
          UnsupportedMediaType("Content-Type must be application/json"),
          RateLimited(1),
          Unavailable("server is not ready (starting, replaying or draining)"),
          NotPrimary("this server is a warm standby following offsite:stemedb-backups: writes go "
                     "to the primary (promote it with `stemectl promote` if the primary is gone)"),
          InsufficientStorage("free disk space is below STEMEDB_MIN_FREE_BYTES; writes are "
                              "refused, reads go on"),
          Internal("storage error"),
          FromStatus(engine::QuotaExceededStatus({"default", "max_assertions", 100000, 99998, 5}))};
}

// components/responses: one per error status, named for generators.
struct ErrorReplyDoc {
  unsigned status;
  const char* name;
  const char* description;
};
constexpr ErrorReplyDoc kErrorResponses[] = {
    {400, "BadRequest", "invalid_json or invalid_field (`field` names the culprit)"},
    {401, "Unauthorized", "unauthorized (no, unknown, revoked or expired key) or bad_signature"},
    {403, "Forbidden",
     "forbidden: the key's role may not call this, or another project; quota_exceeded: the "
     "write would take the project past a limit (docs/projects.md)"},
    {404, "NotFound", "not_found (another project's id answers the same)"},
    {409, "Conflict", "conflict"},
    {413, "TooLarge", "too_large: body over STEMEDB_MAX_BODY_BYTES"},
    {415, "UnsupportedMediaType", "unsupported_media_type: a body that is not application/json"},
    {429, "RateLimited", "rate_limited: the key's token bucket is empty"},
    {500, "Internal", "internal: an unexpected storage error"},
    {503, "Unavailable",
     "unavailable: starting, replaying, draining, WAL failed or too busy; not_primary: a warm "
     "standby or a fenced-off primary refuses every route but GET (docs/backup.md)"},
    {507, "InsufficientStorage", "insufficient_storage: free disk below STEMEDB_MIN_FREE_BYTES"},
};

const ErrorReplyDoc& ErrorResponseFor(unsigned status) {
  for (const ErrorReplyDoc& r : kErrorResponses) {
    if (r.status == status) return r;
  }
  std::abort();  // an operation lists a status kErrorResponses lacks
}

json::object ErrorSchema() {
  json::array codes;
  for (const ApiError& e : ErrorKinds()) codes.emplace_back(e.code);
  json::object code{{"type", "string"},
                    {"enum", std::move(codes)},
                    {"description", "the contract: clients switch on it (docs/api.md Errors)"}};
  json::object field = Str("invalid_field only: the offending field or query parameter");
  return Obj({{"error", Obj({{"code", std::move(code)},
                             {"message", Str("for humans; may change; never contains a key")},
                             {"field", std::move(field)},
                             {"quota", Str("quota_exceeded only: max_assertions or max_bytes")},
                             {"limit", Int("quota_exceeded only: the project's limit")},
                             {"current", Int("quota_exceeded only: the project's figure")},
                             {"adding", Int("quota_exceeded only: what the write would add")}},
                            {"code", "message"})}},
             {"error"}, ErrorJson(ErrorKinds().front()));
}

json::object ErrorResponses() {
  json::object out;
  const std::vector<ApiError> kinds = ErrorKinds();
  for (const ErrorReplyDoc& r : kErrorResponses) {
    json::object examples;
    for (const ApiError& e : kinds) {
      if (e.status == r.status) {
        examples[e.code] = json::object{{"value", json::parse(ErrorJson(e))}};
      }
    }
    json::object media{{"schema", Schema("Error")}, {"examples", std::move(examples)}};
    json::object resp{{"description", r.description},
                      {"content", json::object{{"application/json", std::move(media)}}}};
    if (r.status == 429 || r.status == 503) {
      json::object h = Int("whole seconds to wait before retrying");
      resp["headers"] =
          json::object{{"Retry-After", json::object{{"schema", std::move(h)}, {"required", true}}}};
    }
    out[r.name] = std::move(resp);
  }
  return out;
}

// --- components/schemas ---

constexpr std::string_view kAssertionExample =
    R"({"id":"00062d1f3a5b7c9e4f2a8b6c1d3e5f70","project":"default","subject":"sky",)"
    R"("predicate":"color","value":"blue","agent_id":"alice","confidence":0.9,)"
    R"("observed_at":"2026-11-22T15:38:22Z","signed":false,"lsn":3,)"
    R"("recorded_at":"2026-11-22T15:38:22.123456Z","retracted":false})";
constexpr std::string_view kKeyRecordFields =
    R"("key_id":"3f9a1c2b4d5e6f70","label":"ingest-bot","role":"write_agent",)"
    R"("project":"default","created_at":"2026-11-22T15:38:22.123456Z","last_used_at":null,)"
    R"("expires_at":null,"revoked_at":null,"revoked":false,"expired":false,)"
    R"("rate_limit":"50/s,100","root":false})";

json::object KeyRecordProps(json::object extra) {
  json::object p{{"key_id", KeyId()},
                 {"label", Str()},
                 {"role", RoleEnum()},
                 {"project", Nullable(Str("null for admin and backup keys"))},
                 {"created_at", Nullable(Time())},
                 {"last_used_at", Nullable(Time())},
                 {"expires_at", Nullable(Time())},
                 {"revoked_at", Nullable(Time("when the key stops (a rotation's grace end)"))},
                 {"revoked", Bool()},
                 {"expired", Bool()},
                 {"rotated_to", KeyId()},
                 {"rate_limit", Nullable(Str("\"<rate>/s,<burst>\"; null: the server default"))},
                 {"root", Bool("the key seeded from STEMEDB_ROOT_API_KEY or root.key")}};
  for (auto& kv : extra) p[kv.key()] = std::move(kv.value());
  json::array required;
  for (const auto& kv : p) {
    if (kv.key() != "rotated_to") required.emplace_back(kv.key());
  }
  return {{"type", "object"}, {"properties", std::move(p)}, {"required", std::move(required)}};
}

json::object Schemas() {
  json::object s;
  const json::object any_value{{"description", "any JSON value, at most 64 KiB canonical"}};
  json::object confidence = Nullable(Typed("number", ""));
  confidence["minimum"] = 0;
  confidence["maximum"] = 1;
  s["Error"] = ErrorSchema();
  json::object volume =
      Obj({{"name", Str()}, {"free_bytes", Int()}, {"low", Bool()}}, {"name", "free_bytes", "low"});
  s["Health"] = Obj(
      {{"status", Enum({"ok", "degraded", "failed", "fenced", "shutting_down", "replaying"})},
       {"version", Str()},
       {"store_id", Id("the store's identity (engine/FORMAT.md)")},
       {"applied_lsn", Lsn()},
       {"role", Enum({"primary", "standby", "fenced"})},
       {"writer_epoch", Int("the archive's writer epoch this server writes as (docs/backup.md)")},
       {"writes_refused", Str("why writes are refused (a standby, a fenced-off primary)")},
       {"standby", Obj({{"applied_lsn", Lsn()},
                        {"archive_lsn", Lsn()},
                        {"lag_lsn", Int()},
                        {"lag_seconds", Typed("number", "")},
                        {"segments", Int()},
                        {"failures", Int()},
                        {"error", Str()}},
                       {"applied_lsn", "archive_lsn", "lag_lsn", "lag_seconds"})},
       {"wal", Obj({{"healthy", Bool()}, {"error", Str("why it fail-stopped")}}, {"healthy"})},
       {"disk", Obj({{"writes_allowed", Bool()},
                     {"min_free_bytes", Int()},
                     {"volumes", ArrayOf(std::move(volume))}},
                    {"writes_allowed", "min_free_bytes", "volumes"})},
       {"progress", Obj({{"records_replayed", Int()}, {"start_lsn", Lsn()}, {"end_lsn", Lsn()}},
                        {"records_replayed", "start_lsn", "end_lsn"})}},
      {"status", "store_id"},
      R"({"status":"ok","version":"0.1.0","store_id":"9c1f0e2d3b4a59687766554433221100",)"
      R"("applied_lsn":42,"wal":{"healthy":true},"disk":{"writes_allowed":true,)"
      R"("min_free_bytes":268435456,"volumes":[{"name":"wal","free_bytes":53687091200,)"
      R"("low":false}]}})");
  s["OpenApiDocument"] =
      Obj({{"openapi", Str()},
           {"info", Typed("object", "")},
           {"servers", Typed("array", "")},
           {"tags", Typed("array", "")},
           {"paths", Typed("object", "")},
           {"components", Typed("object", "")},
           {"security", Typed("array", "")}},
          {"openapi", "info", "paths"},
          R"({"openapi":"3.0.3","info":{"title":"StemeDB API","version":"0.1.0"},"paths":{}})");
  // /v1/ready's 503: the Health body once the store is open, the Error body
  // of the boot handler while it opens (api/app.cc).
  s["NotReady"] = json::object{
      {"oneOf", json::array{Schema("Health"), Schema("Error")}},
      {"example",
       json::parse(ErrorJson(Unavailable("the server is starting (WAL replay in progress)")))}};
  s["NewAssertion"] =
      Closed(Obj({{"subject", Bytes(kMaxSubjectBytes)},
                  {"predicate", Bytes(kMaxPredicateBytes)},
                  {"value", any_value},
                  {"agent_id", Bytes(kMaxAgentIdBytes)},
                  {"confidence", confidence},
                  {"observed_at", Nullable(Time("stored as given"))},
                  {"signature", Nullable(Str("base64 Ed25519 signature (docs/signatures.md)"))}},
                 {"subject", "predicate", "value", "agent_id"},
                 R"({"subject":"sky","predicate":"color","value":"blue","agent_id":"alice",)"
                 R"("confidence":0.9,"observed_at":"2026-11-22T15:38:22Z"})"));
  s["AssertReply"] = Obj({{"id", Id()},
                          {"project", Str()},
                          {"lsn", Lsn()},
                          {"recorded_at", Time()},
                          {"signed", Bool()}},
                         {"id", "project", "lsn", "recorded_at", "signed"},
                         R"({"id":"00062d1f3a5b7c9e4f2a8b6c1d3e5f70","project":"default","lsn":3,)"
                         R"("recorded_at":"2026-11-22T15:38:22.123456Z","signed":false})");
  json::object items = ArrayOf(Schema("NewAssertion"));
  items["minItems"] = 1;
  items["maxItems"] = kMaxBatchAssertions;
  s["AssertBatch"] =
      Closed(Obj({{"assertions", std::move(items)}}, {"assertions"},
                 R"({"assertions":[{"subject":"earth","predicate":"shape","value":"round",)"
                 R"("agent_id":"alice"},{"subject":"earth","predicate":"age_years",)"
                 R"("value":4.5e9,"agent_id":"alice"}]})"));
  s["AssertBatchReply"] =
      Obj({{"assertions", ArrayOf(Obj({{"id", Id()}, {"lsn", Lsn()}}, {"id", "lsn"}))},
           {"lsn", Lsn("one commit: every item has this LSN")},
           {"recorded_at", Time()}},
          {"assertions", "lsn", "recorded_at"},
          R"({"assertions":[{"id":"00062d1f3a5b7c9e4f2a8b6c1d3e5f71","lsn":4},)"
          R"({"id":"00062d1f3a5b7c9e4f2a8b6c1d3e5f72","lsn":4}],"lsn":4,)"
          R"("recorded_at":"2026-11-22T15:38:23.000001Z"})");
  s["RetractRequest"] = Closed(Obj({{"id", Id("the assertion to retract")}}, {"id"},
                                   R"({"id":"00062d1f3a5b7c9e4f2a8b6c1d3e5f70"})"));
  s["RetractReply"] = Obj({{"id", Id("the retraction's own id")},
                           {"retracts", Id()},
                           {"lsn", Lsn()},
                           {"recorded_at", Time()}},
                          {"id", "retracts", "lsn", "recorded_at"},
                          R"({"id":"00062d1f3a5b7c9e4f2a8b6c1d3e5f73","retracts":)"
                          R"("00062d1f3a5b7c9e4f2a8b6c1d3e5f70","lsn":5,)"
                          R"("recorded_at":"2026-11-22T15:38:24.000002Z"})");
  s["StoredAssertion"] =
      Obj({{"id", Id()},
           {"project", Str()},
           {"subject", Str()},
           {"predicate", Str()},
           {"value", any_value},
           {"agent_id", Str()},
           {"confidence", Typed("number", "")},
           {"observed_at", Time()},
           {"signature", Str()},
           {"signed", Bool("true when verified against the agent's registered key")},
           {"lsn", Lsn()},
           {"recorded_at", Time()},
           {"retracted", Bool("always on GET /v1/assertions/{id}; in queries only when true")},
           {"retracted_lsn", Lsn()},
           {"retraction_id", Id()}},
          {"id", "project", "subject", "predicate", "value", "agent_id", "signed", "lsn",
           "recorded_at"},
          kAssertionExample);
  s["RetractionRecord"] =
      Obj({{"id", Id()},
           {"project", Str()},
           {"retracts", Id()},
           {"lsn", Lsn()},
           {"recorded_at", Time()},
           {"kind", Enum({"retraction"})}},
          {"id", "project", "retracts", "lsn", "recorded_at", "kind"},
          R"({"id":"00062d1f3a5b7c9e4f2a8b6c1d3e5f73","project":"default","retracts":)"
          R"("00062d1f3a5b7c9e4f2a8b6c1d3e5f70","lsn":5,)"
          R"("recorded_at":"2026-11-22T15:38:24.000002Z","kind":"retraction"})");
  s["AssertionOrRetraction"] =
      json::object{{"oneOf", json::array{Schema("StoredAssertion"), Schema("RetractionRecord")}},
                   {"example", json::parse(kAssertionExample)}};
  s["QueryPage"] = Obj({{"assertions", ArrayOf(Schema("StoredAssertion"))},
                        {"next_cursor", Nullable(Str("pass back as cursor; null: last page"))},
                        {"as_of_lsn", Lsn("the snapshot every page of this query reads")}},
                       {"assertions", "next_cursor", "as_of_lsn"},
                       R"({"assertions":[)" + std::string(kAssertionExample) +
                           R"(],"next_cursor":null,"as_of_lsn":42})");
  json::object held = Obj({{"value", any_value}, {"agents", ArrayOf(Str())}}, {"value", "agents"});
  s["Beliefs"] = Obj({{"subject", Str()},
                      {"beliefs", ArrayOf(Obj({{"predicate", Str()},
                                               {"conflict", Bool("agents hold different values")},
                                               {"values", ArrayOf(std::move(held))}},
                                              {"predicate", "conflict", "values"}))}},
                     {"subject", "beliefs"},
                     R"({"subject":"earth","beliefs":[{"predicate":"age_years","conflict":true,)"
                     R"("values":[{"value":4500000000,"agents":["alice"]},{"value":6000,)"
                     R"("agents":["carol"]}]}]})");
  s["AgentRegistration"] =
      Closed(Obj({{"agent_id", Bytes(kMaxAgentIdBytes)},
                  {"public_key", Str("standard base64 of a 32-byte Ed25519 public key")}},
                 {"agent_id", "public_key"},
                 R"({"agent_id":"sensor-7","public_key":)"
                 R"("MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbL="})"));
  s["AgentKey"] = Obj(
      {{"project", Str()}, {"agent_id", Str()}, {"public_key", Str()}, {"registered_at", Time()}},
      {"project", "agent_id", "public_key", "registered_at"},
      R"({"project":"default","agent_id":"sensor-7","public_key":)"
      R"("MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbL=",)"
      R"("registered_at":"2026-11-22T15:38:22.123456Z"})");
  s["Usage"] = Obj({{"key_id", KeyId()},
                    {"project", Nullable(Str("null for keys that span all projects"))},
                    {"requests", Int()},
                    {"assertions_written", Int()},
                    {"bytes_in", Int()},
                    {"bytes_out", Int()},
                    {"rate_limited", Int()},
                    {"last_used_at", Nullable(Time())}},
                   {"project", "requests", "assertions_written", "bytes_in", "bytes_out",
                    "rate_limited", "last_used_at"},
                   R"({"key_id":"3f9a1c2b4d5e6f70","project":"default","requests":12,)"
                   R"("assertions_written":10,"bytes_in":1480,"bytes_out":2210,)"
                   R"("rate_limited":0,"last_used_at":"2026-11-22T15:38:22.123456Z"})");
  s["Promotion"] =
      Obj({{"role", Str("primary")},
           {"writer_epoch", Int("the archive's writer epoch this server now owns")},
           {"first_lsn", Int("the epoch's first LSN (the promotion's record)")},
           {"applied_lsn", Int("the last record applied from the archive")},
           {"already_promoted", Typed("boolean", "a repeated call")}},
          {"role", "writer_epoch"},
          R"({"role":"primary","writer_epoch":2,"first_lsn":1235,"applied_lsn":1234})");
  s["AdminUsage"] =
      Obj({{"keys", ArrayOf(Schema("Usage"))}, {"projects", ArrayOf(Schema("Usage"))}},
          {"keys", "projects"},
          R"({"keys":[{"key_id":"3f9a1c2b4d5e6f70","project":"default","requests":12,)"
          R"("assertions_written":10,"bytes_in":1480,"bytes_out":2210,"rate_limited":0,)"
          R"("last_used_at":null}],"projects":[{"project":"default","requests":12,)"
          R"("assertions_written":10,"bytes_in":1480,"bytes_out":2210,"rate_limited":0,)"
          R"("last_used_at":null}]})");
  json::object project = Nullable(
      Str("required for write_agent and read_only, refused for admin and backup; a project name " +
          std::string(auth::kProjectNameRule)));
  project["maxLength"] = auth::kMaxProjectNameBytes;
  s["CreateKey"] =
      Closed(Obj({{"label", Str("1..128 bytes, no control characters")},
                  {"role", RoleEnum()},
                  {"project", std::move(project)},
                  {"rate_limit", Nullable(Str("\"<rate>/s,<burst>\"; default STEMEDB_RATE_LIMIT"))},
                  {"expires_at", Nullable(Time("in the future"))}},
                 {"label", "role"},
                 R"({"label":"ingest-bot","role":"write_agent","project":"default",)"
                 R"("rate_limit":"50/s,100"})"));
  json::object grace = Nullable(Int("how long the old key keeps working; default 0"));
  grace["minimum"] = 0;
  grace["maximum"] = 2592000;
  s["RotateKey"] =
      Closed(Obj({{"grace_seconds", std::move(grace)}}, {}, R"({"grace_seconds":60})"));
  s["KeyRecord"] = KeyRecordProps({});
  s["KeyRecord"].as_object()["example"] = json::parse("{" + std::string(kKeyRecordFields));
  s["IssuedKey"] = KeyRecordProps({{"key", Str("the secret: shown in this reply only")}});
  s["IssuedKey"].as_object()["example"] =
      json::parse(R"({"key":"steme_live_000000000000000000000000000000000000000000000000",)" +
                  std::string(kKeyRecordFields));
  s["KeyList"] = Obj({{"keys", ArrayOf(Schema("KeyRecord"))}}, {"keys"},
                     R"({"keys":[{)" + std::string(kKeyRecordFields) + "]}");
  s["ImportBody"] = Str("the export's header line, then record lines (docs/projects.md)");
  s["ImportBody"].as_object()["example"] =
      "{\"stemedb_export\":1,\"project\":\"default\",\"as_of_lsn\":42}\n";
  s["ImportReply"] = Obj({{"records", Int("record lines read")},
                          {"imported", Int("records written")},
                          {"skipped", Int("records whose id the project already held")},
                          {"lsn", Lsn()}},
                         {"records", "imported", "skipped", "lsn"},
                         R"({"records":3,"imported":2,"skipped":1,"lsn":57})");
  json::object count = Int("0 = unlimited");
  count["minimum"] = 0;
  json::object days = Int("retention in days; 0 = keep forever");
  days["minimum"] = 0;
  days["maximum"] = 36500;
  s["ProjectLimits"] = Closed(Obj({{"max_assertions", Nullable(count)},
                                   {"max_bytes", Nullable(count)},
                                   {"retain_days", Nullable(days)}},
                                  {}, R"({"max_assertions":1000000,"max_bytes":1073741824})"));
  json::object project_name = Str("a project name " + std::string(auth::kProjectNameRule));
  project_name["maxLength"] = auth::kMaxProjectNameBytes;
  s["CreateProject"] =
      Closed(Obj({{"project", std::move(project_name)},
                  {"max_assertions", Nullable(count)},
                  {"max_bytes", Nullable(count)},
                  {"retain_days", Nullable(days)}},
                 {"project"}, R"({"project":"default","max_assertions":1000000})"));
  constexpr const char* kProjectExample =
      R"({"project":"default","max_assertions":1000000,"max_bytes":0,"retain_days":0,)"
      R"("created_at":"2026-11-22T15:38:22.123456Z","assertions":12,"stored_bytes":5210,)"
      R"("keys":2,"last_write_at":"2026-11-22T15:40:01.000001Z"})";
  s["Project"] = Obj({{"project", Str()},
                      {"max_assertions", Int("0 = unlimited")},
                      {"max_bytes", Int("0 = unlimited")},
                      {"retain_days", Int("0 = keep forever")},
                      {"created_at", Time()},
                      {"assertions", Int("assertion records stored, retracted ones included")},
                      {"stored_bytes", Int("docs/projects.md \"Stored bytes\"")},
                      {"keys", Int("active API keys")},
                      {"last_write_at", Nullable(Time())}},
                     {"project", "max_assertions", "max_bytes", "retain_days", "created_at",
                      "assertions", "stored_bytes", "keys", "last_write_at"},
                     kProjectExample);
  s["ProjectList"] = Obj({{"projects", ArrayOf(Schema("Project"))}}, {"projects"},
                         std::string(R"({"projects":[)") + kProjectExample + "]}");
  json::object figures =
      Obj({{"assertions", Int()}, {"stored_bytes", Int()}}, {"assertions", "stored_bytes"});
  s["ProjectRecount"] =
      Obj({{"project", Str()},
           {"as_of_lsn", Lsn("the snapshot both figures were read from")},
           {"counted", figures},
           {"recorded", figures},
           {"consistent", Bool("counted equals recorded")}},
          {"project", "as_of_lsn", "counted", "recorded", "consistent"},
          R"({"project":"default","as_of_lsn":42,"counted":{"assertions":12,"stored_bytes":5210},)"
          R"("recorded":{"assertions":12,"stored_bytes":5210},"consistent":true})");
  s["AuditPage"] =
      Obj({{"records", ArrayOf(Obj({{"seq", Int()},
                                    {"time", Time()},
                                    {"actor_key_id", Str()},
                                    {"action", Str("key.create, key.revoke, backup.download, ...")},
                                    {"target", Str()},
                                    {"detail", Str()}},
                                   {"seq", "time", "actor_key_id", "action", "target", "detail"}))},
           {"next_before", Nullable(Int("pass as before= for the next page; null: last page"))}},
          {"records", "next_before"},
          R"({"records":[{"seq":7,"time":"2026-11-22T15:38:22.123456Z",)"
          R"("actor_key_id":"0a1b2c3d4e5f6071","action":"key.create","target":"3f9a1c2b4d5e6f70",)"
          R"("detail":"role=write_agent project=default"}],"next_before":null})");
  s["ProjectDeletion"] = Obj({{"project", Str()},
                              {"status", Enum({"deleting"})},
                              {"keys_revoked", Int("the project's API keys revoked by this call")}},
                             {"project", "status", "keys_revoked"},
                             R"({"project":"default","status":"deleting","keys_revoked":2})");
  s["EraseRequest"] =
      Closed(Obj({{"subject", Bytes(kMaxSubjectBytes)}, {"agent_id", Bytes(kMaxAgentIdBytes)}}, {},
                 R"({"subject":"user-4711"})"));
  s["EraseReply"] =
      Obj({{"project", Str()},
           {"selector", Enum({"subject", "agent_id"})},
           {"selector_hash", Str("BLAKE2b-256 of project, selector kind and value (the audit "
                                 "record holds this, never the value)")},
           {"removed", Int("records removed: assertions (every version) and their retractions")},
           {"kept_under_hold", Int("assertions kept because a legal hold covers their subject")},
           {"complete", Bool("false: writes for the selector kept arriving; repeat the call")}},
          {"project", "selector", "selector_hash", "removed", "kept_under_hold", "complete"},
          R"({"project":"default","selector":"subject","selector_hash":"5d41402abc4b2a76b9719d911)"
          R"(017c592ae2b0f1c4e2b3a9d8f7e6c5b4a39281706","removed":3,"kept_under_hold":0,)"
          R"("complete":true})");
  s["HoldRequest"] =
      Closed(Obj({{"subject", Bytes(kMaxSubjectBytes)}, {"reason", Str("free text, audited")}}, {},
                 R"({"subject":"user-4711","reason":"case 2026-17"})"));
  constexpr const char* kHoldExample =
      R"({"project":"default","subject":"user-4711","placed_at":"2026-11-22T15:38:22.123456Z",)"
      R"("placed_by":"0a1b2c3d4e5f6071","reason":"case 2026-17"})";
  s["LegalHold"] = Obj({{"project", Str()},
                        {"subject", Nullable(Str("null: the whole project"))},
                        {"placed_at", Time()},
                        {"placed_by", Str("key_id")},
                        {"reason", Str()}},
                       {"project", "subject", "placed_at", "placed_by", "reason"}, kHoldExample);
  s["HoldList"] = Obj({{"holds", ArrayOf(Schema("LegalHold"))}}, {"holds"},
                      std::string(R"({"holds":[)") + kHoldExample + "]}");
  s["HoldRelease"] = Obj({{"project", Str()}, {"subject", Nullable(Str())}, {"released", Bool()}},
                         {"project", "subject", "released"},
                         R"({"project":"default","subject":null,"released":true})");
  return s;
}

// --- parameters ---

// Every query or path parameter a route accepts (Route::params, the path
// template), by name; an operation may override required and description.
json::object ParamSchema(std::string_view name) {
  if (name == "id") return Id();
  if (name == "key_id") return KeyId();
  if (name == "project") {
    json::object o = Str("a project name " + std::string(auth::kProjectNameRule));
    o["maxLength"] = auth::kMaxProjectNameBytes;
    return o;
  }
  if (name == "subject") return Bytes(kMaxSubjectBytes);
  if (name == "predicate") return Bytes(kMaxPredicateBytes);
  if (name == "agent_id") return Bytes(kMaxAgentIdBytes);
  if (name == "as_of") return Str("RFC 3339 time, or lsn:N");
  if (name == "history") return Bool("true: every version, retracted ones too");
  if (name == "cursor") return Str("next_cursor of the previous page");
  if (name == "limit") {
    json::object o = Int();
    o["minimum"] = 1;
    o["maximum"] = kMaxQueryLimit;
    o["default"] = kDefaultQueryLimit;
    return o;
  }
  if (name == "after") return Id("resume after the line with this id (needs as_of=lsn:N)");
  if (name == "line_offset") {
    json::object o = Int("added to the line numbers errors name (stemectl: its file's)");
    o["minimum"] = 0;
    return o;
  }
  if (name == "ids") {
    json::object o = Enum({"keep", "derive"});
    o["description"] =
        "keep: records keep their ids; derive: a copy into another project of this server, "
        "with ids derived from the originals (docs/projects.md)";
    o["default"] = "keep";
    return o;
  }
  if (name == "before") {
    json::object o = Int("next_before of the previous page");
    o["minimum"] = 1;
    return o;
  }
  std::abort();  // a route accepts a parameter this table does not describe
}

struct ParamNote {
  std::string_view name;
  bool required;
  const char* description;
};

// --- operations ---

struct Reply {
  unsigned status;
  const char* schema;  // components/schemas name, or "" for a bare string
  const char* content_type = "application/json";
  const char* description = "OK";
  const char* example = nullptr;  // of a bare string reply
};

struct OperationDoc {
  Router::RouteFn fn = nullptr;        // the route it documents (router.cc)
  const char* operation_id = nullptr;  // camelCase verb, stable (docs/api.md)
  const char* tag = nullptr;
  const char* summary = nullptr;
  std::vector<ParamNote> notes;     // overrides for parameters of the route
  const char* request_schema = "";  // components/schemas name; "" = no body
  const char* request_content_type = "application/json";
  bool body_required = true;
  bool idempotent = false;  // honours Idempotency-Key (docs/api.md)
  std::vector<Reply> replies;
  std::vector<unsigned> errors;  // answered by the handler, beyond the pipeline
};

// The roles that may call a route of `access` (Router::RoleMayCall).
std::string Roles(Router::Access access) {
  if (access == Router::Access::kPublic) return "none (no key)";
  std::string out;
  for (auth::Role role : kRoles) {
    if (!Router::RoleMayCall(role, access)) continue;
    if (!out.empty()) out += ", ";
    out += auth::RoleName(role);
  }
  return out;
}

// The error statuses the request pipeline (router.h PIPELINE) can answer on
// `r` before its handler runs, plus the handler's own.
std::set<unsigned> ErrorStatuses(const Router::Route& r, const OperationDoc& d) {
  std::set<unsigned> out(d.errors.begin(), d.errors.end());
  out.insert(400);  // query string: bad encoding, unknown or repeated parameter
  out.insert(413);  // the transport refuses a large body from its header (session.h)
  if (r.access == Router::Access::kPublic) return out;
  out.insert({401, 403, 429, 500, 503});
  if (r.method == http::verb::post) out.insert(415);
  if (r.disk_floor) out.insert(507);
  return out;
}

json::object Operation(const Router::Route& r, const OperationDoc& d) {
  json::object op{{"operationId", d.operation_id},
                  {"summary", d.summary},
                  {"tags", json::array{d.tag}},
                  {"description", "Roles: " + Roles(r.access) + "."}};
  if (r.access == Router::Access::kPublic) op["security"] = json::array{};
  auto note_for = [&](std::string_view name) -> const ParamNote* {
    for (const ParamNote& n : d.notes) {
      if (n.name == name) return &n;
    }
    return nullptr;
  };
  json::array params;
  auto add = [&](std::string_view name, const char* in) {
    const ParamNote* n = note_for(name);
    json::object p{{"name", name},
                   {"in", in},
                   {"required", std::string_view(in) == "path" || (n && n->required)},
                   {"schema", ParamSchema(name)}};
    if (n && n->description) {
      p["description"] = n->description;
    } else if (name == "project" && r.project_scoped) {
      p["description"] =
          "The project to act in: required for admin keys; other keys are bound to one "
          "project and may omit it (naming another gets 403)";
    }
    params.push_back(std::move(p));
  };
  for (size_t open = r.path.find('{'); open != std::string_view::npos;
       open = r.path.find('{', open + 1)) {
    add(r.path.substr(open + 1, r.path.find('}', open) - open - 1), "path");
  }
  for (std::string_view name : r.params) add(name, "query");
  if (*d.request_schema) {
    op["requestBody"] = json::object{
        {"required", d.body_required},
        {"content", json::object{{d.request_content_type,
                                  json::object{{"schema", Schema(d.request_schema)}}}}}};
  }
  if (d.idempotent) {
    json::object key =
        Str("1..255 printable ASCII; a retry with the same key and body "
            "returns the first reply");
    key["minLength"] = 1;
    key["maxLength"] = 255;
    params.push_back(json::object{
        {"name", "Idempotency-Key"}, {"in", "header"}, {"required", false}, {"schema", key}});
  }
  if (!params.empty()) op["parameters"] = std::move(params);
  json::object responses;
  for (const Reply& reply : d.replies) {
    json::object schema = *reply.schema ? Schema(reply.schema) : Str();
    if (std::string_view(reply.content_type) == "application/x-tar") schema["format"] = "binary";
    if (reply.example) schema["example"] = reply.example;
    responses[std::to_string(reply.status)] = json::object{
        {"description", reply.description},
        {"content", json::object{{reply.content_type, json::object{{"schema", schema}}}}}};
  }
  for (unsigned status : ErrorStatuses(r, d)) {
    std::string key = std::to_string(status);
    if (responses.contains(key)) continue;  // a route's own reply (health, ready)
    responses[key] = Ref("responses", ErrorResponseFor(status).name);
  }
  op["responses"] = std::move(responses);
  return op;
}

std::string Build(const std::vector<OperationDoc>& docs) {
  json::object paths;
  std::set<std::string_view> ids;
  for (const Router::Route& r : Router::Routes()) {
    const OperationDoc* d = nullptr;
    for (const OperationDoc& candidate : docs) {
      if (candidate.fn == r.fn) d = &candidate;
    }
    if (d == nullptr) std::abort();                         // every route is documented
    if (!ids.insert(d->operation_id).second) std::abort();  // operationIds are unique
    std::string method(http::to_string(r.method));
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    json::value& path = paths[r.path];
    if (!path.is_object()) path = json::object{};
    path.as_object()[method] = Operation(r, *d);
  }
  json::object security_schemes{
      {"ApiKey", json::object{{"type", "apiKey"}, {"in", "header"}, {"name", "X-API-Key"}}},
      {"Bearer", json::object{{"type", "http"},
                              {"scheme", "bearer"},
                              {"description", "the same key as Authorization: Bearer <key>"}}}};
  json::object doc{
      {"openapi", "3.0.3"},
      {"info",
       json::object{{"title", "StemeDB API"},
                    {"version", STEMEDB_VERSION},
                    {"description", "Assertions about subjects by agents; see docs/api.md"}}},
      {"servers", json::array{json::object{{"url", "/"}}}},
      {"tags", json::array{json::object{{"name", "health"}}, json::object{{"name", "assertions"}},
                           json::object{{"name", "agents"}}, json::object{{"name", "usage"}},
                           json::object{{"name", "admin"}}}},
      {"paths", std::move(paths)},
      {"components", json::object{{"schemas", Schemas()},
                                  {"responses", ErrorResponses()},
                                  {"securitySchemes", std::move(security_schemes)}}},
      {"security", json::array{json::object{{"ApiKey", json::array{}}},
                               json::object{{"Bearer", json::array{}}}}},
  };
  return json::serialize(doc);
}

}  // namespace

const std::string& Router::OpenApiJson() {
  // Inside a Router member, so the table can name the private handlers.
  static const std::string kDoc = Build({
      {.fn = &Router::Health,
       .operation_id = "getHealth",
       .tag = "health",
       .summary = "Liveness; replay progress while starting",
       .replies = {{200, "Health"},
                   {503, "Health", "application/json", "the WAL fail-stopped: restart"}}},
      {.fn = &Router::Ready,
       .operation_id = "getReadiness",
       .tag = "health",
       .summary = "Readiness: replay done, store open, WAL writable, not draining",
       .replies = {{200, "Health"},
                   {503, "NotReady", "application/json", "not ready; Retry-After: 1"}}},
      {.fn = &Router::MetricsText,
       .operation_id = "getMetrics",
       .tag = "health",
       .summary = "Prometheus metrics, text exposition format (docs/metrics.md)",
       .replies = {{200, "", "text/plain", "OK",
                    "# TYPE stemedb_applied_lsn gauge\nstemedb_applied_lsn 42\n"}}},
      {.fn = &Router::OpenApi,
       .operation_id = "getOpenApiDocument",
       .tag = "health",
       .summary = "This document",
       .replies = {{200, "OpenApiDocument"}},
       .errors = {503}},  // while the store opens (api/app.cc's boot handler)
      {.fn = &Router::Assert,
       .operation_id = "createAssertion",
       .tag = "assertions",
       .summary = "Write one assertion, durable before the reply",
       .request_schema = "NewAssertion",
       .idempotent = true,
       .replies = {{201, "AssertReply", "application/json", "Created: in the fsynced WAL"}},
       .errors = {409, 507}},
      {.fn = &Router::AssertBatch,
       .operation_id = "createAssertionBatch",
       .tag = "assertions",
       .summary = "Write up to 1000 assertions in one atomic, durable commit",
       .request_schema = "AssertBatch",
       .idempotent = true,
       .replies = {{201, "AssertBatchReply", "application/json", "Created: in the fsynced WAL"}},
       .errors = {409, 507}},
      {.fn = &Router::Retract,
       .operation_id = "retractAssertion",
       .tag = "assertions",
       .summary = "Retract an assertion by id (the retraction is itself recorded)",
       .request_schema = "RetractRequest",
       .idempotent = true,
       .replies = {{201, "RetractReply", "application/json", "Created: in the fsynced WAL"}},
       .errors = {404, 409, 507}},
      {.fn = &Router::GetAssertion,
       .operation_id = "getAssertion",
       .tag = "assertions",
       .summary = "One assertion, or a retraction record, by id",
       .replies = {{200, "AssertionOrRetraction"}},
       .errors = {404}},
      {.fn = &Router::Query,
       .operation_id = "queryAssertions",
       .tag = "assertions",
       .summary = "Assertions matching filters (at least one of subject, predicate, agent_id)",
       .replies = {{200, "QueryPage"}}},
      {.fn = &Router::Beliefs,
       .operation_id = "getBeliefs",
       .tag = "assertions",
       .summary = "Current values per predicate of a subject, who holds each, conflicts",
       .notes = {{"subject", true, nullptr}, {"predicate", false, "only this predicate"}},
       .replies = {{200, "Beliefs"}}},
      {.fn = &Router::RegisterAgent,
       .operation_id = "registerAgentKey",
       .tag = "agents",
       .summary = "Register an agent's Ed25519 public key (replacing one needs admin)",
       .request_schema = "AgentRegistration",
       .replies = {{201, "AgentKey", "application/json", "Registered"},
                   {200, "AgentKey", "application/json", "That key was already registered"}}},
      {.fn = &Router::Usage,
       .operation_id = "getUsage",
       .tag = "usage",
       .summary = "Metering of the calling key",
       .replies = {{200, "Usage"}}},
      {.fn = &Router::CreateKey,
       .operation_id = "createApiKey",
       .tag = "admin",
       .summary = "Create an API key (the secret is shown once)",
       .request_schema = "CreateKey",
       .replies = {{201, "IssuedKey", "application/json", "Created"}}},
      {.fn = &Router::ListKeys,
       .operation_id = "listApiKeys",
       .tag = "admin",
       .summary = "List API keys, never the secrets",
       .notes = {{"project", false, "only keys of this project"}},
       .replies = {{200, "KeyList"}}},
      {.fn = &Router::RevokeKey,
       .operation_id = "revokeApiKey",
       .tag = "admin",
       .summary = "Revoke a key at once",
       .replies = {{200, "KeyRecord"}},
       .errors = {404}},
      {.fn = &Router::RotateKey,
       .operation_id = "rotateApiKey",
       .tag = "admin",
       .summary = "Issue a successor key; the old one stops after an optional grace period",
       .request_schema = "RotateKey",
       .body_required = false,
       .replies = {{201, "IssuedKey", "application/json", "Created"}},
       .errors = {404, 409}},
      {.fn = &Router::Audit,
       .operation_id = "listAuditRecords",
       .tag = "admin",
       .summary = "Audit records, newest first",
       .replies = {{200, "AuditPage"}}},
      {.fn = &Router::AdminUsage,
       .operation_id = "getAdminUsage",
       .tag = "admin",
       .summary = "Metering per key and per project",
       .notes = {{"project", false, "only this project"}},
       .replies = {{200, "AdminUsage"}}},
      {.fn = &Router::Promote,
       .operation_id = "promoteStandby",
       .tag = "admin",
       .summary = "Promote this warm standby to primary (safe to repeat; docs/backup.md)",
       .request_schema = "",
       .replies = {{200, "Promotion", "application/json", "The primary now, and its epoch"}},
       .errors = {409, 503}},
      {.fn = &Router::Backup,
       .operation_id = "streamBackup",
       .tag = "admin",
       .summary = "Stream a consistent snapshot archive (tar with MANIFEST.json, docs/backup.md)",
       .replies = {{200, "", "application/x-tar", "The archive, streamed"}},
       .errors = {409}},
      {.fn = &Router::CreateProject,
       .operation_id = "createProject",
       .tag = "admin",
       .summary = "Register a project with its limits (safe to repeat; docs/projects.md)",
       .request_schema = "CreateProject",
       .replies = {{201, "Project", "application/json", "Created"},
                   {200, "Project", "application/json", "Already registered with these limits"}},
       .errors = {409}},
      {.fn = &Router::ListProjects,
       .operation_id = "listProjects",
       .tag = "admin",
       .summary = "Every project with its limits and live figures",
       .replies = {{200, "ProjectList"}}},
      {.fn = &Router::DescribeProject,
       .operation_id = "getProject",
       .tag = "admin",
       .summary = "One project with its limits and live figures",
       .replies = {{200, "Project"}},
       .errors = {404}},
      {.fn = &Router::UpdateProject,
       .operation_id = "updateProject",
       .tag = "admin",
       .summary = "Change a project's limits (fields left out are kept)",
       .request_schema = "ProjectLimits",
       .replies = {{200, "Project"}},
       .errors = {404}},
      {.fn = &Router::RecountProject,
       .operation_id = "recountProject",
       .tag = "admin",
       .summary = "Count a project's records and compare with its maintained figures",
       .replies = {{200, "ProjectRecount"}},
       .errors = {404}},
      {.fn = &Router::ExportProject,
       .operation_id = "exportProject",
       .tag = "admin",
       .summary = "Stream a project's assertions and retractions, with history, as NDJSON at "
                  "one LSN (docs/projects.md)",
       .replies = {{200, "", "application/x-ndjson", "The export, streamed",
                    "{\"stemedb_export\":1,\"project\":\"default\",\"as_of_lsn\":42}\n"}}},
      {.fn = &Router::ImportProject,
       .operation_id = "importProject",
       .tag = "admin",
       .summary = "Import export lines into a project: ids (or, with ids=derive, ids derived "
                  "from them), recorded_at and signatures kept, ids already there skipped; one "
                  "request is atomic",
       .request_schema = "ImportBody",
       .request_content_type = "application/x-ndjson",
       .replies = {{200, "ImportReply"}},
       .errors = {409}},
      {.fn = &Router::DeleteProject,
       .operation_id = "deleteProject",
       .tag = "admin",
       .summary = "Delete every record, index entry, idempotency record and key of a project "
                  "(202: in progress, repeat to follow; 404 once gone; docs/projects.md)",
       .replies = {{202, "ProjectDeletion", "application/json", "Marked deleted; removal runs"}},
       .errors = {404, 409}},
      {.fn = &Router::EraseProjectData,
       .operation_id = "eraseProjectData",
       .tag = "admin",
       .summary = "Erase every version of a subject's or an agent's assertions (right to be "
                  "forgotten; 409 under a legal hold)",
       .request_schema = "EraseRequest",
       .replies = {{200, "EraseReply"}},
       .errors = {409}},
      {.fn = &Router::ListHolds,
       .operation_id = "listLegalHolds",
       .tag = "admin",
       .summary = "The legal holds of a project",
       .replies = {{200, "HoldList"}}},
      {.fn = &Router::PlaceHold,
       .operation_id = "placeLegalHold",
       .tag = "admin",
       .summary = "Hold a project (no body) or one subject: suspends erasure, expiry and "
                  "deletion (safe to repeat)",
       .request_schema = "HoldRequest",
       .body_required = false,
       .replies = {{201, "LegalHold", "application/json", "Placed"},
                   {200, "LegalHold", "application/json", "Already held"}}},
      {.fn = &Router::ReleaseHold,
       .operation_id = "releaseLegalHold",
       .tag = "admin",
       .summary = "Release the project hold, or with ?subject= a subject's",
       .notes = {{"subject", false, "release this subject's hold (absent: the project's)"}},
       .replies = {{200, "HoldRelease"}},
       .errors = {404}},
  });
  return kDoc;
}

}  // namespace stemedb::api
