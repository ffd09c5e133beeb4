// Admin routes (docs/api.md): API keys, audit trail, usage (role admin),
// backups (role admin or backup). A secret key appears in exactly two
// replies: key creation and rotation. It is never logged, listed or audited
// (auth/ stores only hashes).
#include <boost/json/monotonic_resource.hpp>
#include <charconv>
#include <cstdint>
#include <filesystem>

#include "api/json_validation.h"
#include "api/router.h"
#include "auth/audit_log.h"
#include "backup/snapshot_archive.h"
#include "util/hex.h"
#include "util/logging.h"
#include "util/time_format.h"

namespace stemedb::api {
namespace {

constexpr int64_t kMaxGraceSeconds = 30 * 24 * 3600;

// Key ids are 16 lowercase hex digits (util/hex.h); anything else names no key.
bool IsKeyId(std::string_view id) {
  uint64_t ignored;
  return ParseHex64(id, &ignored);
}

// {"key":"steme_live_…", <KeyRecordJson fields>}: shown once.
std::string IssuedKeyJson(const auth::IssuedKey& issued, int64_t now_us) {
  std::string record = auth::KeyRecordJson(issued.record, now_us);
  std::string out = R"({"key":)";
  AppendJsonString(&out, issued.key);
  if (record.size() > 2) {
    out.push_back(',');
    out.append(record, 1, std::string::npos);
  } else {
    out.push_back('}');
  }
  return out;
}

// The fields of POST /v1/admin/api-keys; `now_us` bounds expires_at.
ApiResult<auth::CreateKeyRequest> ParseCreateKey(const boost::json::object& obj, int64_t now_us) {
  auth::CreateKeyRequest req;
  auto label = RequiredString(obj, "label", 1, 128, "");
  if (!label) return label.error();
  req.label = *label;
  auto role_text = RequiredString(obj, "role", 1, 32, "");
  if (!role_text) return role_text.error();
  auto role = auth::ParseRole(*role_text);
  if (!role) return InvalidField("role", std::string(auth::kRoleRule));
  req.role = *role;
  // Any string length reaches the project-name rule, so its message (not a
  // generic length complaint) is what a caller sees for a bad name.
  auto project = OptionalString(obj, "project", 0, SIZE_MAX, "");
  if (!project) return project.error();
  if (auth::SpansAllProjects(req.role)) {
    if (*project) {
      return InvalidField("project", std::string(*role_text) + " keys span all projects; omit it");
    }
  } else {
    if (!*project) return InvalidField("project", "is required for this role");
    if (auto valid = CheckProjectName(**project); !valid) return valid.error();
    req.project = **project;
  }
  auto rate = OptionalString(obj, "rate_limit", 1, 64, "");
  if (!rate) return rate.error();
  if (*rate) {
    auto spec = auth::ParseRateLimit(**rate);
    if (!spec) return InvalidField("rate_limit", "must look like \"200/s,400\"");
    req.rate_limit = *spec;
  }
  auto expires = OptionalString(obj, "expires_at", 1, 64, "");
  if (!expires) return expires.error();
  if (*expires) {
    auto us = ParseRfc3339(**expires);
    if (!us) return InvalidField("expires_at", "must be an RFC 3339 date-time");
    if (*us <= now_us) return InvalidField("expires_at", "is in the past");
    req.expires_at_us = *us;
  }
  return req;
}

// grace_seconds of POST /v1/admin/api-keys/{key_id}/rotate (0 without a body).
ApiResult<int64_t> ParseGraceSeconds(std::string_view body) {
  // In place: ApiError, an aggregate, is constructible from an integer too.
  const auto seconds = [](int64_t v) {
    return ApiResult<int64_t>(boost::system::in_place_value, v);
  };
  if (body.empty()) return seconds(0);
  unsigned char buf[512];
  boost::json::monotonic_resource mr(buf, sizeof buf);
  auto obj = ParseJsonObject(body, {"grace_seconds"}, &mr);
  if (!obj) return obj.error();
  const boost::json::value* g = obj->if_contains("grace_seconds");
  if (g == nullptr || g->is_null()) return seconds(0);
  if (!g->is_int64() && !g->is_uint64()) {
    return InvalidField("grace_seconds", "must be an integer");
  }
  boost::system::error_code ec;
  int64_t v = g->to_number<int64_t>(ec);
  if (ec || v < 0 || v > kMaxGraceSeconds) {
    return InvalidField("grace_seconds", "must be 0..2592000 (30 days)");
  }
  return seconds(v);
}

}  // namespace

void Router::CreateKey(const std::shared_ptr<Call>& call) {
  unsigned char buf[1024];
  boost::json::monotonic_resource mr(buf, sizeof buf);
  auto obj = ParseJsonObject(call->req.body(),
                             {"label", "role", "project", "rate_limit", "expires_at"}, &mr);
  if (!obj) return SendError(call, obj.error());
  auto req = ParseCreateKey(*obj, call->now_us);
  if (!req) return SendError(call, req.error());
  if (!req->project.empty()) {
    // Keys belong to registered projects (docs/projects.md).
    if (s_.config->project_registry_strict) {
      auto record = s_.projects->Get(req->project);
      if (!record) return SendError(call, FromStatus(record.error()));
      if (!*record) {
        return SendError(call, NotFoundError("project " + req->project +
                                             " is not registered; create it first (POST "
                                             "/v1/admin/projects, stemectl projects create)"));
      }
    } else {
      auto registered = s_.projects->Ensure(req->project, call->principal->key_id,
                                            "registered by an API key", call->now_us);
      if (!registered) return SendError(call, FromStatus(registered.error()));
    }
  }
  auto issued = s_.keys->Create(*req, call->principal->key_id, call->now_us);
  if (!issued) return SendError(call, FromStatus(issued.error()));
  SendJson(call, 201, IssuedKeyJson(*issued, call->now_us));
}

void Router::ListKeys(const std::shared_ptr<Call>& call) {
  const std::string* project = call->Param("project");
  std::string out = R"({"keys":[)";
  bool first = true;
  for (const auth::KeyRecord& r : s_.keys->List()) {
    if (project != nullptr && r.project != *project) continue;
    if (!first) out.push_back(',');
    first = false;
    out += auth::KeyRecordJson(r, call->now_us);
  }
  out += "]}";
  SendJson(call, 200, std::move(out));
}

void Router::RevokeKey(const std::shared_ptr<Call>& call) {
  const std::string& key_id = call->path_param;
  if (!IsKeyId(key_id)) return SendError(call, NotFoundError("no such key"));
  Status st = s_.keys->Revoke(key_id, call->principal->key_id, call->now_us);
  if (!st.ok()) return SendError(call, FromStatus(st));
  auto record = s_.keys->Get(key_id);
  if (!record) return SendError(call, FromStatus(record.error()));
  SendJson(call, 200, auth::KeyRecordJson(*record, call->now_us));
}

void Router::RotateKey(const std::shared_ptr<Call>& call) {
  const std::string& key_id = call->path_param;
  if (!IsKeyId(key_id)) return SendError(call, NotFoundError("no such key"));
  auto grace = ParseGraceSeconds(call->req.body());
  if (!grace) return SendError(call, grace.error());
  auto issued = s_.keys->Rotate(key_id, *grace, call->principal->key_id, call->now_us);
  if (!issued) return SendError(call, FromStatus(issued.error()));
  SendJson(call, 201, IssuedKeyJson(*issued, call->now_us));
}

void Router::Audit(const std::shared_ptr<Call>& call) {
  size_t limit = 100;
  uint64_t before = 0;
  if (const std::string* l = call->Param("limit")) {
    auto n = ParseUint(*l);
    if (!n || *n < 1 || *n > 1000) {
      return SendError(call, InvalidField("limit", "must be an integer 1..1000"));
    }
    limit = *n;
  }
  if (const std::string* b = call->Param("before")) {
    auto n = ParseUint(*b);
    if (!n || *n == 0) return SendError(call, InvalidField("before", "must be a positive seq"));
    before = *n;
  }
  auto records = s_.audit->List(limit, before);
  if (!records) return SendError(call, FromStatus(records.error()));
  std::string out = R"({"records":[)";
  for (size_t i = 0; i < records->size(); ++i) {
    if (i > 0) out.push_back(',');
    out += auth::AuditRecordJson((*records)[i]);
  }
  out += R"(],"next_before":)";
  // A full page may have more behind it: continue with ?before=<last seq>.
  if (records->size() == limit && !records->empty()) {
    out += std::to_string(records->back().seq);
  } else {
    out += "null";
  }
  out.push_back('}');
  SendJson(call, 200, std::move(out));
}

void Router::AdminUsage(const std::shared_ptr<Call>& call) {
  const std::string* project = call->Param("project");
  std::string out = R"({"keys":[)";
  bool first = true;
  if (s_.meter != nullptr) {
    for (const auth::UsageCounters& u : s_.meter->AllKeys()) {
      if (project != nullptr && u.project != *project) continue;
      if (!first) out.push_back(',');
      first = false;
      out += auth::UsageJson(u);
    }
  }
  out += R"(],"projects":[)";
  if (s_.meter != nullptr) {
    std::optional<std::string_view> filter;
    if (project != nullptr) filter = *project;
    first = true;
    for (const auth::UsageCounters& u : s_.meter->ByProject(filter)) {
      if (!first) out.push_back(',');
      first = false;
      out += auth::UsageJson(u);
    }
  }
  out += "]}";
  SendJson(call, 200, std::move(out));
}

namespace {

// The head of the backup download: a tar named after the snapshot's LSN.
Response BackupHead(unsigned version, Lsn lsn) {
  Response head{http::status::ok, version};
  head.keep_alive(false);
  head.set(http::field::content_type, "application/x-tar");
  head.set(http::field::cache_control, "no-store");
  head.set(http::field::content_disposition,
           "attachment; filename=\"stemedb-backup-" + std::to_string(lsn.value()) + ".tar\"");
  return head;
}

// Writes the snapshot archive (backup/snapshot_archive.h) through the
// transport's `write`. `running` is held until the producer is destroyed.
// A raw Database pointer is enough: the transport joins the producer before
// the App closes the database (api/stream_jobs.h).
decltype(StreamingReply::produce) BackupProducer(engine::Database* db, std::string scratch,
                                                 std::shared_ptr<void> running) {
  return [db, scratch = std::move(scratch),
          running = std::move(running)](const std::function<bool(std::string_view)>& write) {
    backup::SnapshotOptions opts;
    opts.scratch_dir = scratch;
    opts.server_version = STEMEDB_VERSION;
    auto info = backup::WriteSnapshotArchive(*db, opts, [&](std::string_view chunk) {
      return write(chunk) ? Status::OK()
                          : Status::Unavailable("client went away or server stopping");
    });
    if (!info) {
      log::Warn("backup stream failed", {{"error", info.error().ToString()}});
      return false;
    }
    log::Info("backup streamed", {{"snapshot_lsn", std::to_string(info->snapshot_lsn)},
                                  {"files", std::to_string(info->files)},
                                  {"bytes", std::to_string(info->bytes)}});
    return true;
  };
}

}  // namespace

// Promotion of a warm standby (docs/backup.md "Warm standby"): the App
// does the work on its own thread; the reply is sent from there.
void Router::Promote(const std::shared_ptr<Call>& call) {
  if (!s_.promote) {
    return SendError(call, ConflictError("this server is not a standby: nothing to promote"));
  }
  s_.promote([this, call](Result<std::string> body) {
    if (!body) return SendError(call, FromStatus(body.error()));
    SendJson(call, 200, std::move(*body));
  });
}

void Router::Backup(const std::shared_ptr<Call>& call) {
  // One backup at a time: each pins a checkpoint and a full read of the store.
  bool expected = false;
  if (!backup_running_.compare_exchange_strong(expected, true)) {
    return SendError(call, ConflictError("a backup is already running"));
  }
  // Resets backup_running_ when the last holder (the producer, or this route
  // on an early error) lets go, whatever the transport does.
  std::shared_ptr<void> running(nullptr, [this](void*) { backup_running_.store(false); });

  // Exporting every project's data is an admin action: audit it, durably,
  // before the first byte leaves.
  auth::AuditRecord rec;
  rec.time_us = call->now_us;
  rec.actor_key_id = call->principal->key_id;
  rec.action = "backup.download";
  rec.target = "*";
  engine::SystemEntry entry;
  entry.writes.push_back(s_.audit->MakeAuditWrite(std::move(rec)));

  // Same filesystem as the DB (the checkpoint hard-links SSTs): beside it.
  std::string scratch =
      (std::filesystem::path(s_.db_dir).lexically_normal().parent_path() / "backup-tmp").string();
  s_.db->SubmitAsync(
      std::move(entry), [this, call, running = std::move(running),
                         scratch = std::move(scratch)](Result<engine::CommitInfo> r) mutable {
        if (!r) return SendError(call, FromStatus(r.error()));
        StreamingReply reply;
        reply.head = BackupHead(call->req.version(), r->lsn);
        reply.produce = BackupProducer(s_.db, std::move(scratch), std::move(running));
        StartStream(call, std::move(reply));
      });
}

}  // namespace stemedb::api
