// AuditLog: who did what to which key or agent, and when (docs/api.md).
//
// Records live in engine SystemTable::kAudit under a 16-hex big-endian
// sequence key (time-ordered). Writers build the SystemWrite with
// MakeAuditWrite() and commit it in the same SystemEntry as the change it
// describes, so an action and its audit record are durable together.
//
// Sequence numbers come from one process-wide counter that Load() raises
// past the highest stored record, so several AuditLog instances (KeyStore's
// and AgentRegistry's, or a reopened Database) never hand out the same
// number; numbers are unique and increasing, not necessarily dense (a failed
// commit leaves a gap). Records are never rewritten or deleted.
//
// Stored value: compact JSON {"seq","time_us","actor","action","target",
// "detail"}. List() scans the table (admin-only, rare), O(records).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/database.h"
#include "util/status.h"

namespace stemedb::auth {

struct AuditRecord {
  uint64_t seq = 0;
  int64_t time_us = 0;
  std::string actor_key_id;
  std::string action;  // "key.create", "key.revoke", "key.rotate", "agent.register", ...
  std::string target;  // key_id, or project/agent_id
  std::string detail;  // short free text, never a secret
};
// {"seq","time" (RFC 3339),"actor_key_id","action","target","detail"}.
std::string AuditRecordJson(const AuditRecord& record);

class AuditLog {
 public:
  explicit AuditLog(engine::Database* db);
  // Finds the last sequence number. Call once at startup.
  Status Load();
  // A write for the record (assigns the next seq). Thread-safe.
  engine::SystemWrite MakeAuditWrite(AuditRecord record);
  // Newest first, at most `limit`, with seq < `before_seq` (0 = from newest).
  Result<std::vector<AuditRecord>> List(size_t limit, uint64_t before_seq) const;

 private:
  engine::Database* db_;
};

}  // namespace stemedb::auth
