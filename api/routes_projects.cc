// Project registry routes (docs/projects.md, docs/api.md): create, list,
// describe, update limits, recount. Role admin. Deletion is
// routes_erasure.cc's. Every change is audited with the record it writes.
#include <boost/json/monotonic_resource.hpp>

#include "api/json_validation.h"
#include "api/router.h"
#include "util/json_string.h"
#include "util/time_format.h"

namespace stemedb::api {
namespace {

// The limits a request gives; absent fields are nullopt.
struct LimitFields {
  std::optional<uint64_t> max_assertions;
  std::optional<uint64_t> max_bytes;
  std::optional<uint64_t> retain_days;
};

constexpr uint64_t kMaxRetainDays = 36500;

ApiResult<std::optional<uint64_t>> OptionalCount(const boost::json::object& obj,
                                                 std::string_view name, uint64_t max) {
  const boost::json::value* v = obj.if_contains(name);
  if (v == nullptr || v->is_null()) return std::optional<uint64_t>();
  uint64_t n = 0;
  if (v->is_uint64()) {
    n = v->as_uint64();
  } else if (v->is_int64() && v->as_int64() >= 0) {
    n = static_cast<uint64_t>(v->as_int64());
  } else {
    return InvalidField(name, "must be a non-negative integer (0 = unlimited)");
  }
  if (n > max) return InvalidField(name, "must be at most " + std::to_string(max));
  return std::optional<uint64_t>(n);
}

ApiResult<LimitFields> ParseLimits(const boost::json::object& obj) {
  LimitFields f;
  auto a = OptionalCount(obj, "max_assertions", INT64_MAX);
  if (!a) return a.error();
  auto b = OptionalCount(obj, "max_bytes", INT64_MAX);
  if (!b) return b.error();
  auto d = OptionalCount(obj, "retain_days", kMaxRetainDays);
  if (!d) return d.error();
  f.max_assertions = *a;
  f.max_bytes = *b;
  f.retain_days = *d;
  return f;
}

void ApplyLimits(const LimitFields& f, engine::ProjectRecord* r) {
  if (f.max_assertions) r->max_assertions = *f.max_assertions;
  if (f.max_bytes) r->max_bytes = *f.max_bytes;
  if (f.retain_days) r->retain_days = *f.retain_days;
}

void AppendFigures(std::string* out, const engine::ProjectFigures& f) {
  *out += "\"assertions\":" + std::to_string(f.assertions) +
          ",\"stored_bytes\":" + std::to_string(f.stored_bytes);
}

// Active keys per project (revoked ones and those past their rotation
// grace do not count).
std::map<std::string, size_t> KeyCounts(const auth::KeyStore& keys, int64_t now_us) {
  std::map<std::string, size_t> out;
  for (const auth::KeyRecord& k : keys.List()) {
    if (k.project.empty()) continue;
    if (k.revoked_at_us != 0 && k.revoked_at_us <= now_us) continue;
    if (k.expires_at_us != 0 && k.expires_at_us <= now_us) continue;
    ++out[k.project];
  }
  return out;
}

// {"project","max_assertions","max_bytes","retain_days","created_at",
//  "assertions","stored_bytes","keys","last_write_at"}
std::string ProjectJson(std::string_view project, const engine::ProjectRecord& r,
                        const std::optional<engine::ProjectFigures>& figures, size_t keys) {
  std::string out = R"({"project":)";
  AppendJsonString(&out, project);
  out += "," + ProjectLimitsJson(r) + ",";
  const engine::ProjectFigures f = figures.value_or(engine::ProjectFigures{});
  AppendFigures(&out, f);
  out += ",\"keys\":" + std::to_string(keys) + ",\"last_write_at\":";
  if (f.last_write_us > 0) {
    out += "\"" + FormatRfc3339(f.last_write_us) + "\"";
  } else {
    out += "null";
  }
  out += "}";
  return out;
}

}  // namespace

ApiResult<void> Router::CheckProjectRegistered(const Call& call) {
  if (!IsAdmin(call)) return {};
  if (s_.config->project_registry_strict) {
    auto record = s_.projects->Get(call.project);
    if (!record) return FromStatus(record.error());
    if (*record) return {};
    return NotFoundError("project " + call.project +
                         " is not registered; create it first (POST /v1/admin/projects, "
                         "stemectl projects create)");
  }
  auto registered = s_.projects->Ensure(call.project, call.principal->key_id,
                                        "registered by an admin write", call.now_us);
  if (!registered) return FromStatus(registered.error());
  return {};
}

void Router::CreateProject(const std::shared_ptr<Call>& call) {
  unsigned char buf[1024];
  boost::json::monotonic_resource mr(buf, sizeof buf);
  auto obj = ParseJsonObject(call->req.body(),
                             {"project", "max_assertions", "max_bytes", "retain_days"}, &mr);
  if (!obj) return SendError(call, obj.error());
  auto name = RequiredString(*obj, "project", 0, SIZE_MAX, "");
  if (!name) return SendError(call, name.error());
  if (auto valid = CheckProjectName(*name); !valid) return SendError(call, valid.error());
  const std::string project(*name);
  auto limits = ParseLimits(*obj);
  if (!limits) return SendError(call, limits.error());
  auto existing = s_.projects->Get(project);
  if (!existing) return SendError(call, FromStatus(existing.error()));
  unsigned status = 201;
  engine::ProjectRecord record;
  if (*existing) {
    // A repeated create is safe: the same limits (or none given) change
    // nothing; other limits are an update, which is PATCH's.
    record = **existing;
    engine::ProjectRecord wanted = record;
    ApplyLimits(*limits, &wanted);
    if (!(wanted == record)) {
      return SendError(call, ConflictError("project " + project +
                                           " exists with other limits; update it with PATCH "
                                           "/v1/admin/projects/" +
                                           project));
    }
    status = 200;
  } else {
    record = s_.projects->NewRecord(call->now_us);
    ApplyLimits(*limits, &record);
    Status put = s_.projects->Put(project, record, call->principal->key_id, "project.create",
                                  ProjectLimitsJson(record), call->now_us);
    if (!put.ok()) return SendError(call, FromStatus(put));
  }
  const auto keys = KeyCounts(*s_.keys, call->now_us);
  auto it = keys.find(project);
  SendJson(call, status,
           ProjectJson(project, record, s_.db->GetProjectFigures(project),
                       it == keys.end() ? 0 : it->second));
}

void Router::ListProjects(const std::shared_ptr<Call>& call) {
  auto list = s_.projects->List();
  if (!list) return SendError(call, FromStatus(list.error()));
  const auto keys = KeyCounts(*s_.keys, call->now_us);
  const auto figures = s_.db->AllProjectFigures();
  std::string out = R"({"projects":[)";
  bool first = true;
  for (const auto& [project, record] : *list) {
    if (!first) out.push_back(',');
    first = false;
    auto k = keys.find(project);
    auto f = figures.find(project);
    out += ProjectJson(
        project, record,
        f == figures.end() ? std::nullopt : std::optional<engine::ProjectFigures>(f->second),
        k == keys.end() ? 0 : k->second);
  }
  out += "]}";
  SendJson(call, 200, std::move(out));
}

void Router::DescribeProject(const std::shared_ptr<Call>& call) {
  const std::string& project = call->path_param;
  auto record = s_.projects->Get(project);
  if (!record) return SendError(call, FromStatus(record.error()));
  if (!*record) return SendError(call, NotFoundError("no such project: " + project));
  const auto keys = KeyCounts(*s_.keys, call->now_us);
  auto it = keys.find(project);
  SendJson(call, 200,
           ProjectJson(project, **record, s_.db->GetProjectFigures(project),
                       it == keys.end() ? 0 : it->second));
}

void Router::UpdateProject(const std::shared_ptr<Call>& call) {
  const std::string& project = call->path_param;
  unsigned char buf[1024];
  boost::json::monotonic_resource mr(buf, sizeof buf);
  auto obj = ParseJsonObject(call->req.body(), {"max_assertions", "max_bytes", "retain_days"}, &mr);
  if (!obj) return SendError(call, obj.error());
  auto limits = ParseLimits(*obj);
  if (!limits) return SendError(call, limits.error());
  auto existing = s_.projects->Get(project);
  if (!existing) return SendError(call, FromStatus(existing.error()));
  if (!*existing) return SendError(call, NotFoundError("no such project: " + project));
  engine::ProjectRecord record = **existing;
  ApplyLimits(*limits, &record);
  // The same limits again change nothing and log nothing.
  if (!(record == **existing)) {
    Status put = s_.projects->Put(
        project, record, call->principal->key_id, "project.update",
        "from {" + ProjectLimitsJson(**existing) + "} to {" + ProjectLimitsJson(record) + "}",
        call->now_us);
    if (!put.ok()) return SendError(call, FromStatus(put));
  }
  const auto keys = KeyCounts(*s_.keys, call->now_us);
  auto it = keys.find(project);
  SendJson(call, 200,
           ProjectJson(project, record, s_.db->GetProjectFigures(project),
                       it == keys.end() ? 0 : it->second));
}

void Router::RecountProject(const std::shared_ptr<Call>& call) {
  const std::string& project = call->path_param;
  auto record = s_.projects->Get(project);
  if (!record) return SendError(call, FromStatus(record.error()));
  if (!*record) return SendError(call, NotFoundError("no such project: " + project));
  auto r = s_.db->RecountProject(project);
  if (!r) return SendError(call, FromStatus(r.error()));
  const bool consistent = r->counted.assertions == r->recorded.assertions &&
                          r->counted.stored_bytes == r->recorded.stored_bytes;
  std::string out = R"({"project":)";
  AppendJsonString(&out, project);
  out += ",\"as_of_lsn\":" + std::to_string(r->as_of.value()) + ",\"counted\":{";
  AppendFigures(&out, r->counted);
  out += "},\"recorded\":{";
  AppendFigures(&out, r->recorded);
  out += "},\"consistent\":";
  out += consistent ? "true" : "false";
  out += "}";
  SendJson(call, 200, std::move(out));
}

}  // namespace stemedb::api
