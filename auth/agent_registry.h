// AgentRegistry: an agent's Ed25519 public key per project (docs/api.md
// POST /v1/agents), and verification of signed assertions.
//
// Stored in engine SystemTable::kAgentKeys under project + '\0' + agent_id,
// cached in memory. Registering the same key again is a no-op; replacing a
// different key requires an admin principal (PermissionDenied otherwise).
// The canonical signing encoding is defined in auth/signature.h and
// documented in docs/signatures.md.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/audit_log.h"
#include "engine/database.h"
#include "util/status.h"

namespace stemedb::auth {

struct AgentKey {
  std::string project;
  std::string agent_id;
  std::string public_key_b64;  // 32-byte Ed25519 key, standard base64
  int64_t registered_at_us = 0;
};
// {"project","agent_id","public_key","registered_at" (RFC 3339)}.
std::string AgentKeyJson(const AgentKey& key);

class AgentRegistry {
 public:
  AgentRegistry(engine::Database* db, AuditLog* audit);
  ~AgentRegistry();
  Status Load();
  // InvalidArgument for a key that is not base64 of 32 bytes. Returns true
  // if created or changed, false if it was already registered identically.
  Result<bool> Register(std::string_view project, std::string_view agent_id,
                        std::string_view public_key_b64, bool caller_is_admin,
                        std::string_view actor_key_id, int64_t now_us);
  std::optional<AgentKey> Find(std::string_view project, std::string_view agent_id) const;
  // Drops the project's keys from the cache: the project is being deleted
  // (the engine removes the stored keys with it, engine/project_erasure.cc).
  void ForgetProject(std::string_view project);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stemedb::auth
