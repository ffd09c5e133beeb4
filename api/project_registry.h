// ProjectRegistry: the projects of this server as records (docs/projects.md).
//
// One record per project in SystemTable::kProjects; its bytes and meaning
// are the engine's (engine/project_record.h), because the engine decides
// every write of the project against the record's limits at apply, live and
// on replay alike. Every change goes through the WAL with its audit record
// in one SystemEntry.
//
// Defaults (STEMEDB_PROJECT_MAX_*) are resolved into a record when it is
// written, so they never change an existing project.
//
// THREAD-SAFETY: every method may be called from any thread. Two concurrent
// writes for one project are both logged; the later LSN wins.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "auth/audit_log.h"
#include "auth/key_store.h"
#include "engine/database.h"
#include "engine/project_record.h"
#include "util/status.h"

namespace stemedb::api {

struct ProjectDefaults {
  uint64_t max_assertions = 0;  // 0 = unlimited
  uint64_t max_bytes = 0;
};

class ProjectRegistry {
 public:
  // Not owned; must outlive the registry.
  ProjectRegistry(engine::Database* db, auth::AuditLog* audit, ProjectDefaults defaults);

  // A record with the defaults, created at `now_us`.
  engine::ProjectRecord NewRecord(int64_t now_us) const;
  // nullopt if `project` is not registered.
  Result<std::optional<engine::ProjectRecord>> Get(std::string_view project) const;
  // Every registered project, by name.
  Result<std::map<std::string, engine::ProjectRecord>> List() const;
  // Writes `record` for `project` and the audit record (`action`, `detail`)
  // in one entry.
  Status Put(std::string_view project, const engine::ProjectRecord& record,
             std::string_view actor_key_id, std::string_view action, std::string detail,
             int64_t now_us);
  // Registers `project` with the defaults unless it is registered; true if
  // this call registered it. Audited as project.create (`detail` says why).
  Result<bool> Ensure(std::string_view project, std::string_view actor_key_id,
                      std::string_view detail, int64_t now_us);
  // Start-up migration: every project that has API keys or stored data but
  // no record is registered with the defaults (actor "stemedb"). Idempotent.
  // Returns how many were registered.
  Result<size_t> RegisterExisting(const auth::KeyStore& keys, int64_t now_us);

 private:
  engine::Database* db_;
  auth::AuditLog* audit_;
  const ProjectDefaults defaults_;
};

// {"max_assertions":N,"max_bytes":N,"retain_days":N,"created_at":"…"} members
// (no braces) of a record, for replies and audit details.
std::string ProjectLimitsJson(const engine::ProjectRecord& r);

}  // namespace stemedb::api
