// LegalHolds: holds on a project or on one subject of it (docs/projects.md
// "Legal hold"). A hold suspends erasure and expiry of what it covers (and
// deletion of a held project); it is itself audited.
//
// Stored in engine SystemTable::kHolds under project + '\0' + subject (""
// for the whole project), value compact JSON {"placed_at_us","actor",
// "reason"}; written through the WAL with its audit record in one
// SystemEntry. Deleting a project removes its holds with it (the engine's
// last purge step).
//
// THREAD-SAFETY: stateless over the Database; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/audit_log.h"
#include "engine/database.h"
#include "util/status.h"

namespace stemedb::api {

struct LegalHold {
  std::string project;
  std::string subject;  // "" = the whole project
  int64_t placed_at_us = 0;
  std::string actor_key_id;
  std::string reason;
};
// {"project","subject" (null for a project hold),"placed_at","placed_by","reason"}.
std::string LegalHoldJson(const LegalHold& hold);

class LegalHolds {
 public:
  // Not owned; must outlive this.
  LegalHolds(engine::Database* db, auth::AuditLog* audit);

  // Every hold of `project` (the project hold first, then by subject).
  Result<std::vector<LegalHold>> List(std::string_view project) const;
  // True if `project` as a whole is held.
  Result<bool> ProjectHeld(std::string_view project) const;
  // True if the project or `subject` in it is held.
  Result<bool> SubjectHeld(std::string_view project, std::string_view subject) const;
  // Places the hold; false (nothing written) if it is already there.
  Result<bool> Place(const LegalHold& hold);
  // Releases the hold on `subject` ("" = the project hold). NotFound if none.
  Status Release(std::string_view project, std::string_view subject, std::string_view actor_key_id,
                 int64_t now_us);

 private:
  engine::Database* db_;
  auth::AuditLog* audit_;
};

}  // namespace stemedb::api
