#include "api/project_registry.h"

#include <set>

#include "auth/project_name.h"
#include "util/logging.h"
#include "util/time_format.h"

namespace stemedb::api {

ProjectRegistry::ProjectRegistry(engine::Database* db, auth::AuditLog* audit,
                                 ProjectDefaults defaults)
    : db_(db), audit_(audit), defaults_(defaults) {}

engine::ProjectRecord ProjectRegistry::NewRecord(int64_t now_us) const {
  engine::ProjectRecord r;
  r.max_assertions = defaults_.max_assertions;
  r.max_bytes = defaults_.max_bytes;
  r.created_at_us = now_us;
  return r;
}

Result<std::optional<engine::ProjectRecord>> ProjectRegistry::Get(std::string_view project) const {
  auto v = db_->GetSystem(engine::SystemTable::kProjects, project);
  if (!v) return v.error();
  if (!*v) return std::optional<engine::ProjectRecord>();
  auto r = engine::DecodeProjectRecord(**v);
  if (!r) return r.error();
  return std::optional<engine::ProjectRecord>(*r);
}

Result<std::map<std::string, engine::ProjectRecord>> ProjectRegistry::List() const {
  std::map<std::string, engine::ProjectRecord> out;
  Status bad = Status::OK();
  Status s = db_->ScanSystem(engine::SystemTable::kProjects, "",
                             [&](std::string_view key, std::string_view value) {
                               auto r = engine::DecodeProjectRecord(value);
                               if (!r) {
                                 bad = r.error();
                                 return false;
                               }
                               out.emplace(key, *r);
                               return true;
                             });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  return out;
}

Status ProjectRegistry::Put(std::string_view project, const engine::ProjectRecord& record,
                            std::string_view actor_key_id, std::string_view action,
                            std::string detail, int64_t now_us) {
  if (!auth::IsValidProjectName(project)) {
    return Status::InvalidArgument("project: " + std::string(auth::kProjectNameRule));
  }
  // A project being deleted gets no record until its deletion finished
  // (the last purge step removes the record).
  auto state = db_->GetProjectState(project);
  if (!state) return state.error();
  if (*state == engine::Database::ProjectState::kDeleting) {
    return Status::Conflict("project " + std::string(project) +
                            " is being deleted; create it again once that finished");
  }
  engine::SystemEntry entry;
  entry.writes.push_back(engine::SystemWrite{engine::SystemTable::kProjects, std::string(project),
                                             engine::EncodeProjectRecord(record)});
  auth::AuditRecord audit;
  audit.time_us = now_us;
  audit.actor_key_id = std::string(actor_key_id);
  audit.action = std::string(action);
  audit.target = std::string(project);
  audit.detail = std::move(detail);
  entry.writes.push_back(audit_->MakeAuditWrite(std::move(audit)));
  auto done = db_->Submit(std::move(entry));
  if (!done) return done.error();
  return Status::OK();
}

Result<bool> ProjectRegistry::Ensure(std::string_view project, std::string_view actor_key_id,
                                     std::string_view detail, int64_t now_us) {
  auto existing = Get(project);
  if (!existing) return existing.error();
  if (*existing) return false;
  const engine::ProjectRecord record = NewRecord(now_us);
  STEMEDB_RETURN_IF_ERROR(Put(project, record, actor_key_id, "project.create",
                              std::string(detail) + "; " + ProjectLimitsJson(record), now_us));
  return true;
}

Result<size_t> ProjectRegistry::RegisterExisting(const auth::KeyStore& keys, int64_t now_us) {
  auto registered = List();
  if (!registered) return registered.error();
  std::set<std::string> found;
  for (const auth::KeyRecord& k : keys.List()) {
    // A revoked key (e.g. of a deleted project) does not make a project.
    const bool revoked = k.revoked_at_us != 0 && k.revoked_at_us <= now_us;
    if (!k.project.empty() && !revoked) found.insert(k.project);
  }
  for (const auto& [project, figures] : db_->AllProjectFigures()) found.insert(project);
  size_t n = 0;
  for (const std::string& project : found) {
    // A name the rule refuses cannot be registered (nor used by a new key);
    // its data stays readable with the keys it has.
    if (registered->count(project) != 0 || !auth::IsValidProjectName(project)) continue;
    // Being deleted (engine/project_erasure.cc): its record goes with it.
    auto state = db_->GetProjectState(project);
    if (state && *state == engine::Database::ProjectState::kDeleting) continue;
    const engine::ProjectRecord record = NewRecord(now_us);
    STEMEDB_RETURN_IF_ERROR(
        Put(project, record, "stemedb", "project.create",
            "registered at start-up: had keys or data; " + ProjectLimitsJson(record), now_us));
    ++n;
  }
  if (n > 0) log::Info("registered existing projects", {{"count", std::to_string(n)}});
  return n;
}

std::string ProjectLimitsJson(const engine::ProjectRecord& r) {
  return "\"max_assertions\":" + std::to_string(r.max_assertions) +
         ",\"max_bytes\":" + std::to_string(r.max_bytes) +
         ",\"retain_days\":" + std::to_string(r.retain_days) + ",\"created_at\":\"" +
         FormatRfc3339(r.created_at_us) + "\"";
}

}  // namespace stemedb::api
