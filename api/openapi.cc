// GET /v1/openapi.json: an OpenAPI 3.0 description of every route in
// Router::Routes(). Built once (static) from the route table plus the
// per-route details below, so a route cannot be served without being
// documented: a route missing from kDocs aborts the build of the document
// in tests (OpenApiCoversEveryRoute).
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <map>

#include "api/router.h"

namespace stemedb::api {
namespace {

namespace json = boost::json;

struct Param {
  const char* name;
  const char* in;  // "path" | "query"
  const char* type;
  bool required;
  const char* description;
};

struct Doc {
  const char* summary;
  std::vector<Param> params;
  const char* request_schema;  // "" = no body; else a components/schemas name
  bool body_required;
  unsigned success;             // 200 / 201 / 204
  const char* response_schema;  // components/schemas name or "" (text or binary)
  const char* content_type;     // of the success response
  std::vector<unsigned> errors;
};

const Param kProject{"project", "query", "string", false,
                     "Project to act in. Required for admin keys on data routes; other keys "
                     "are bound to one project and may omit it."};

const std::map<std::string, Doc>& Docs() {
  static const std::map<std::string, Doc> kDocs = {
      {"GET /v1/health",
       {"Liveness; reports replay progress while starting",
        {},
        "",
        false,
        200,
        "Health",
        "application/json",
        {}}},
      {"GET /v1/ready",
       {"Readiness: replay done, store open and writable",
        {},
        "",
        false,
        200,
        "Health",
        "application/json",
        {503}}},
      {"GET /metrics",
       {"Prometheus metrics (text exposition format)", {}, "", false, 200, "", "text/plain", {}}},
      {"GET /v1/openapi.json", {"This document", {}, "", false, 200, "", "application/json", {}}},
      {"POST /v1/assert",
       {"Write one assertion (durable before the reply)",
        {kProject},
        "NewAssertion",
        true,
        201,
        "AssertReply",
        "application/json",
        {400, 401, 403, 409, 413, 415, 429, 503, 507}}},
      {"POST /v1/assert/batch",
       {"Write up to 1000 assertions in one atomic, durable commit",
        {kProject},
        "AssertBatch",
        true,
        201,
        "AssertBatchReply",
        "application/json",
        {400, 401, 403, 409, 413, 415, 429, 503, 507}}},
      {"POST /v1/retract",
       {"Retract an assertion by id (the retraction is itself recorded)",
        {kProject},
        "RetractRequest",
        true,
        201,
        "RetractReply",
        "application/json",
        {400, 401, 403, 404, 409, 413, 415, 429, 503, 507}}},
      {"GET /v1/assertions/{id}",
       {"One assertion (or retraction record) by id",
        {{"id", "path", "string", true, "32 lowercase hex"}, kProject},
        "",
        false,
        200,
        "StoredAssertion",
        "application/json",
        {401, 403, 404, 429, 503}}},
      {"GET /v1/query",
       {"Assertions matching filters (at least one of subject, predicate, agent_id)",
        {kProject,
         {"subject", "query", "string", false, "1..512 bytes"},
         {"predicate", "query", "string", false, "1..256 bytes"},
         {"agent_id", "query", "string", false, "1..128 bytes"},
         {"as_of", "query", "string", false, "RFC 3339 time or lsn:N"},
         {"history", "query", "boolean", false, "true: every version, not just the current view"},
         {"limit", "query", "integer", false, "1..1000, default 100"},
         {"cursor", "query", "string", false, "next_cursor of the previous page"}},
        "",
        false,
        200,
        "QueryPage",
        "application/json",
        {400, 401, 403, 429, 503}}},
      {"GET /v1/beliefs",
       {"Current values per predicate of a subject, who holds each, conflicts",
        {kProject,
         {"subject", "query", "string", true, "1..512 bytes"},
         {"predicate", "query", "string", false, "only this predicate"},
         {"as_of", "query", "string", false, "RFC 3339 time or lsn:N"}},
        "",
        false,
        200,
        "Beliefs",
        "application/json",
        {400, 401, 403, 429, 503}}},
      {"POST /v1/agents",
       {"Register an agent's Ed25519 public key (changing it needs admin)",
        {kProject},
        "AgentRegistration",
        true,
        201,
        "AgentKey",
        "application/json",
        {400, 401, 403, 413, 415, 429, 503, 507}}},
      {"GET /v1/usage",
       {"Metering of the calling key",
        {},
        "",
        false,
        200,
        "Usage",
        "application/json",
        {401, 429, 503}}},
      {"POST /v1/admin/api-keys",
       {"Create an API key (the key is shown once)",
        {},
        "CreateKey",
        true,
        201,
        "IssuedKey",
        "application/json",
        {400, 401, 403, 413, 415, 429, 503, 507}}},
      {"GET /v1/admin/api-keys",
       {"List API keys (never the secrets)",
        {{"project", "query", "string", false, "only keys of this project"}},
        "",
        false,
        200,
        "KeyList",
        "application/json",
        {401, 403, 429, 503}}},
      {"DELETE /v1/admin/api-keys/{key_id}",
       {"Revoke a key at once",
        {{"key_id", "path", "string", true, "16 lowercase hex"}},
        "",
        false,
        200,
        "KeyRecord",
        "application/json",
        {401, 403, 404, 429, 503, 507}}},
      {"POST /v1/admin/api-keys/{key_id}/rotate",
       {"Issue a successor key; the old one stops after an optional grace period",
        {{"key_id", "path", "string", true, "16 lowercase hex"}},
        "RotateKey",
        false,
        201,
        "IssuedKey",
        "application/json",
        {400, 401, 403, 404, 409, 415, 429, 503, 507}}},
      {"GET /v1/admin/audit",
       {"Audit records, newest first",
        {{"limit", "query", "integer", false, "1..1000, default 100"},
         {"before", "query", "integer", false, "only records with seq below this"}},
        "",
        false,
        200,
        "AuditPage",
        "application/json",
        {400, 401, 403, 429, 503}}},
      {"GET /v1/admin/usage",
       {"Metering per key and per project",
        {{"project", "query", "string", false, "only this project"}},
        "",
        false,
        200,
        "AdminUsage",
        "application/json",
        {401, 403, 429, 503}}},
      {"GET /v1/admin/backup",
       {"Stream a consistent snapshot archive (tar with MANIFEST.json)",
        {},
        "",
        false,
        200,
        "",
        "application/x-tar",
        {401, 403, 409, 429, 503}}},
  };
  return kDocs;
}

json::value Ref(const char* name) {
  return json::object{{"$ref", std::string("#/components/schemas/") + name}};
}

json::object Str(const char* description = nullptr) {
  json::object o{{"type", "string"}};
  if (description) o["description"] = description;
  return o;
}

json::object Obj(std::initializer_list<std::pair<const char*, json::value>> props,
                 std::initializer_list<const char*> required = {}) {
  json::object p;
  for (const auto& [k, v] : props) p[k] = v;
  json::object o{{"type", "object"}, {"properties", std::move(p)}};
  if (required.size() > 0) {
    json::array r;
    for (const char* k : required) r.push_back(json::string(k));
    o["required"] = std::move(r);
  }
  return o;
}

json::object ArrayOf(json::value items) { return {{"type", "array"}, {"items", std::move(items)}}; }

json::object Schemas() {
  json::object s;
  json::object any_value{{"description", "any JSON value, at most 64 KiB"}};
  s["Error"] = Obj({{"error", Obj({{"code", Str("invalid_json, invalid_field, unauthorized, "
                                                "bad_signature, forbidden, not_found, "
                                                "method_not_allowed, conflict, too_large, "
                                                "unsupported_media_type, rate_limited, "
                                                "unavailable, insufficient_storage, internal")},
                                   {"message", Str()},
                                   {"field", Str("invalid_field only")}},
                                  {"code", "message"})}},
                   {"error"});
  s["Health"] = Obj({{"status", Str("ok, replaying, ...")}}, {"status"});
  s["NewAssertion"] =
      Obj({{"subject", Str("1..512 bytes")},
           {"predicate", Str("1..256 bytes")},
           {"value", any_value},
           {"agent_id", Str("1..128 bytes")},
           {"confidence", json::object{{"type", "number"}, {"minimum", 0}, {"maximum", 1}}},
           {"observed_at", Str("RFC 3339")},
           {"signature", Str("base64 Ed25519 signature (docs/signatures.md)")}},
          {"subject", "predicate", "value", "agent_id"});
  s["AssertReply"] = Obj({{"id", Str()},
                          {"project", Str()},
                          {"lsn", json::object{{"type", "integer"}}},
                          {"recorded_at", Str("RFC 3339")},
                          {"signed", json::object{{"type", "boolean"}}}},
                         {"id", "lsn", "recorded_at"});
  s["AssertBatch"] = Obj({{"assertions", ArrayOf(Ref("NewAssertion"))}}, {"assertions"});
  s["AssertBatchReply"] = Obj(
      {{"assertions", ArrayOf(Obj({{"id", Str()}, {"lsn", json::object{{"type", "integer"}}}}))},
       {"lsn", json::object{{"type", "integer"}}},
       {"recorded_at", Str()}},
      {"assertions"});
  s["RetractRequest"] = Obj({{"id", Str("the assertion to retract")}}, {"id"});
  s["RetractReply"] = Obj({{"id", Str("the retraction's id")},
                           {"retracts", Str()},
                           {"lsn", json::object{{"type", "integer"}}},
                           {"recorded_at", Str()}},
                          {"id", "lsn"});
  s["StoredAssertion"] = Obj({{"id", Str()},
                              {"project", Str()},
                              {"subject", Str()},
                              {"predicate", Str()},
                              {"value", any_value},
                              {"agent_id", Str()},
                              {"confidence", json::object{{"type", "number"}}},
                              {"observed_at", Str()},
                              {"signature", Str()},
                              {"signed", json::object{{"type", "boolean"}}},
                              {"lsn", json::object{{"type", "integer"}}},
                              {"recorded_at", Str()},
                              {"retracted", json::object{{"type", "boolean"}}},
                              {"retracted_lsn", json::object{{"type", "integer"}}},
                              {"retraction_id", Str()}},
                             {"id"});
  s["QueryPage"] = Obj({{"assertions", ArrayOf(Ref("StoredAssertion"))},
                        {"next_cursor", json::object{{"type", "string"}, {"nullable", true}}},
                        {"as_of_lsn", json::object{{"type", "integer"}}}},
                       {"assertions", "next_cursor"});
  s["Beliefs"] =
      Obj({{"subject", Str()},
           {"beliefs", ArrayOf(Obj({{"predicate", Str()},
                                    {"conflict", json::object{{"type", "boolean"}}},
                                    {"values", ArrayOf(Obj({{"value", any_value},
                                                            {"agents", ArrayOf(Str())}}))}}))}},
          {"subject", "beliefs"});
  s["AgentRegistration"] =
      Obj({{"agent_id", Str()}, {"public_key", Str("base64 of a 32-byte Ed25519 public key")}},
          {"agent_id", "public_key"});
  s["AgentKey"] = Obj({{"project", Str()}, {"agent_id", Str()}, {"public_key", Str()}});
  json::object usage =
      Obj({{"key_id", Str()},
           {"project", Str()},
           {"requests", json::object{{"type", "integer"}}},
           {"assertions_written", json::object{{"type", "integer"}}},
           {"bytes_in", json::object{{"type", "integer"}}},
           {"bytes_out", json::object{{"type", "integer"}}},
           {"rate_limited", json::object{{"type", "integer"}}},
           {"last_used_at", json::object{{"type", "string"}, {"nullable", true}}}});
  s["Usage"] = usage;
  s["AdminUsage"] = Obj({{"keys", ArrayOf(Ref("Usage"))}, {"projects", ArrayOf(Ref("Usage"))}});
  s["CreateKey"] = Obj(
      {{"label", Str("1..128")},
       {"role", json::object{{"type", "string"},
                             {"enum", json::array{"admin", "write_agent", "read_only", "backup"}}}},
       {"project", Str("a DNS label; required unless role is admin or backup")},
       {"rate_limit", Str("\"<rate>/s,<burst>\"")},
       {"expires_at", Str("RFC 3339")}},
      {"label", "role"});
  s["RotateKey"] = Obj(
      {{"grace_seconds", json::object{{"type", "integer"}, {"minimum", 0}, {"maximum", 2592000}}}});
  s["KeyRecord"] = Obj({{"key_id", Str()},
                        {"label", Str()},
                        {"role", Str()},
                        {"project", json::object{{"type", "string"}, {"nullable", true}}},
                        {"created_at", Str()},
                        {"last_used_at", json::object{{"type", "string"}, {"nullable", true}}},
                        {"expires_at", json::object{{"type", "string"}, {"nullable", true}}},
                        {"revoked", json::object{{"type", "boolean"}}},
                        {"rate_limit", json::object{{"type", "string"}, {"nullable", true}}}},
                       {"key_id", "label", "role"});
  json::object issued = Obj({{"key", Str("the secret, shown only in this reply")},
                             {"key_id", Str()},
                             {"label", Str()},
                             {"role", Str()},
                             {"project", json::object{{"type", "string"}, {"nullable", true}}},
                             {"created_at", Str()}},
                            {"key", "key_id", "role"});
  s["IssuedKey"] = issued;
  s["KeyList"] = Obj({{"keys", ArrayOf(Ref("KeyRecord"))}}, {"keys"});
  s["AuditPage"] = Obj({{"records", ArrayOf(Obj({{"seq", json::object{{"type", "integer"}}},
                                                 {"time", Str()},
                                                 {"actor_key_id", Str()},
                                                 {"action", Str()},
                                                 {"target", Str()},
                                                 {"detail", Str()}}))},
                        {"next_before", json::object{{"type", "integer"}, {"nullable", true}}}},
                       {"records"});
  return s;
}

const char* Reason(unsigned status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created (durable)";
    case 400:
      return "invalid_json or invalid_field";
    case 401:
      return "unauthorized or bad_signature";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 413:
      return "too_large";
    case 415:
      return "unsupported_media_type";
    case 429:
      return "rate_limited (Retry-After)";
    case 503:
      return "unavailable (Retry-After)";
    case 507:
      return "insufficient_storage";
  }
  return "error";
}

std::string Build() {
  json::object paths;
  const auto& docs = Docs();
  for (const Router::Route& r : Router::Routes()) {
    std::string method(http::to_string(r.method));
    std::string key = method + " " + std::string(r.path);
    auto it = docs.find(key);
    if (it == docs.end()) std::abort();  // every served route is documented
    const Doc& d = it->second;
    json::object op;
    op["summary"] = d.summary;
    op["operationId"] = key;
    if (r.access == Router::Access::kPublic) {
      op["security"] = json::array{};
    } else {
      const char* role = r.access == Router::Access::kAdmin    ? "admin"
                         : r.access == Router::Access::kBackup ? "admin or backup"
                         : r.access == Router::Access::kWrite  ? "write_agent or admin"
                                                               : "any role but backup";
      op["description"] = std::string("Requires role: ") + role;
    }
    json::array params;
    for (const Param& p : d.params) {
      params.push_back(json::object{{"name", p.name},
                                    {"in", p.in},
                                    {"required", p.required},
                                    {"description", p.description},
                                    {"schema", json::object{{"type", p.type}}}});
    }
    if (!params.empty()) op["parameters"] = std::move(params);
    if (*d.request_schema) {
      op["requestBody"] = json::object{
          {"required", d.body_required},
          {"content",
           json::object{{"application/json", json::object{{"schema", Ref(d.request_schema)}}}}}};
    }
    json::object responses;
    json::object ok{{"description", Reason(d.success)}};
    json::object schema = *d.response_schema ? Ref(d.response_schema).as_object()
                          : std::string_view(d.content_type) == "application/json"
                              ? json::object{{"type", "object"}}
                              : json::object{{"type", "string"}, {"format", "binary"}};
    ok["content"] = json::object{{d.content_type, json::object{{"schema", std::move(schema)}}}};
    responses[std::to_string(d.success)] = std::move(ok);
    for (unsigned e : d.errors) {
      responses[std::to_string(e)] = json::object{
          {"description", Reason(e)},
          {"content", json::object{{"application/json", json::object{{"schema", Ref("Error")}}}}}};
    }
    op["responses"] = std::move(responses);
    std::string lower = method;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    json::value& path = paths[std::string(r.path)];
    if (!path.is_object()) path = json::object{};
    path.as_object()[lower] = std::move(op);
  }
  json::object doc{
      {"openapi", "3.0.3"},
      {"info",
       json::object{{"title", "StemeDB API"},
                    {"version", STEMEDB_VERSION},
                    {"description", "Assertions about subjects by agents; see docs/api.md"}}},
      {"servers", json::array{json::object{{"url", "/"}}}},
      {"paths", std::move(paths)},
      {"components",
       json::object{
           {"schemas", Schemas()},
           {"securitySchemes",
            json::object{
                {"ApiKey",
                 json::object{{"type", "apiKey"}, {"in", "header"}, {"name", "X-API-Key"}}},
                {"Bearer", json::object{{"type", "http"}, {"scheme", "bearer"}}}}}}},
      {"security", json::array{json::object{{"ApiKey", json::array{}}},
                               json::object{{"Bearer", json::array{}}}}},
  };
  return json::serialize(doc);
}

}  // namespace

const std::string& Router::OpenApiJson() {
  static const std::string kDoc = Build();
  return kDoc;
}

}  // namespace stemedb::api
