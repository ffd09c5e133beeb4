#include "auth/agent_registry.h"

#include <sodium.h>

#include <boost/json.hpp>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include "auth/encoding.h"
#include "auth/stored_record.h"
#include "util/time_format.h"

namespace stemedb::auth {
namespace {

std::string StorageKey(std::string_view project, std::string_view agent_id) {
  std::string key(project);
  key.push_back('\0');
  key.append(agent_id);
  return key;
}

std::string EncodeAgentKey(const AgentKey& key) {
  boost::json::object o;
  o["v"] = 1;
  o["project"] = key.project;
  o["agent_id"] = key.agent_id;
  o["public_key"] = key.public_key_b64;
  o["registered_at_us"] = key.registered_at_us;
  return boost::json::serialize(o);
}

Result<AgentKey> DecodeAgentKey(std::string_view bytes) {
  Result<boost::json::object> parsed = ParseStoredObject(bytes, "agent key record");
  if (!parsed) return parsed.error();
  const boost::json::object& o = *parsed;
  const auto* project = o.if_contains("project");
  const auto* agent = o.if_contains("agent_id");
  const auto* pk = o.if_contains("public_key");
  const auto* at = o.if_contains("registered_at_us");
  if (project == nullptr || !project->is_string() || agent == nullptr || !agent->is_string() ||
      pk == nullptr || !pk->is_string() || at == nullptr || !at->is_int64()) {
    return Status::Corruption("agent key record: missing field");
  }
  return AgentKey{std::string(project->get_string()), std::string(agent->get_string()),
                  std::string(pk->get_string()), at->get_int64()};
}

}  // namespace

std::string AgentKeyJson(const AgentKey& key) {
  boost::json::object o;
  o["project"] = key.project;
  o["agent_id"] = key.agent_id;
  o["public_key"] = key.public_key_b64;
  o["registered_at"] = FormatRfc3339(key.registered_at_us);
  return boost::json::serialize(o);
}

class AgentRegistry::Impl {
 public:
  Impl(engine::Database* db, AuditLog* audit) : db_(db), audit_(audit) {}

  Status Load() {
    std::unordered_map<std::string, AgentKey> loaded;
    STEMEDB_RETURN_IF_ERROR(ScanStoredRecords(
        db_, engine::SystemTable::kAgentKeys, "agent registry load",
        [](std::string_view, std::string_view value) { return DecodeAgentKey(value); },
        [&](std::string_view key, AgentKey agent) {
          loaded.emplace(std::string(key), std::move(agent));
        }));
    std::unique_lock lock(mu_);
    agents_ = std::move(loaded);
    return Status::OK();
  }

  Result<bool> Register(std::string_view project, std::string_view agent_id,
                        std::string_view public_key_b64, bool caller_is_admin,
                        std::string_view actor, int64_t now_us) {
    EnsureSodium();
    if (project.empty() || project.find('\0') != std::string_view::npos) {
      return Status::InvalidArgument("project is required");
    }
    if (agent_id.empty() || agent_id.size() > 128 ||
        agent_id.find('\0') != std::string_view::npos) {
      return Status::InvalidArgument("agent_id must be 1..128 bytes");
    }
    std::optional<std::string> raw = FromBase64(public_key_b64, crypto_sign_PUBLICKEYBYTES);
    // A key that is not a canonical point of the main subgroup could never
    // verify a signature (or would verify forgeries): refuse it up front.
    if (!raw || crypto_core_ed25519_is_valid_point(
                    reinterpret_cast<const unsigned char*>(raw->data())) != 1) {
      return Status::InvalidArgument("public_key must be base64 of a 32-byte Ed25519 public key");
    }
    const std::string canonical_b64 = ToBase64(*raw);
    const std::string key = StorageKey(project, agent_id);

    std::lock_guard write_lock(write_mu_);
    std::optional<AgentKey> existing = Find(project, agent_id);
    if (existing && existing->public_key_b64 == canonical_b64) return false;
    if (existing && !caller_is_admin) {
      return Status::PermissionDenied("agent already has a different key; changing it needs admin");
    }
    AgentKey agent{std::string(project), std::string(agent_id), canonical_b64, now_us};
    AuditRecord audit;
    audit.time_us = now_us;
    audit.actor_key_id = std::string(actor);
    audit.action = existing ? "agent.rekey" : "agent.register";
    audit.target = std::string(project) + "/" + std::string(agent_id);
    engine::SystemEntry entry;
    entry.writes.push_back(
        engine::SystemWrite{engine::SystemTable::kAgentKeys, key, EncodeAgentKey(agent)});
    entry.writes.push_back(audit_->MakeAuditWrite(std::move(audit)));
    Result<engine::CommitInfo> done = db_->Submit(std::move(entry));
    if (!done) return done.error().WithContext("agent registry commit");
    std::unique_lock lock(mu_);
    agents_[key] = std::move(agent);
    return true;
  }

  void ForgetProject(std::string_view project) {
    std::unique_lock lock(mu_);
    std::erase_if(agents_, [&](const auto& kv) { return kv.second.project == project; });
  }

  std::optional<AgentKey> Find(std::string_view project, std::string_view agent_id) const {
    const std::string key = StorageKey(project, agent_id);
    std::shared_lock lock(mu_);
    auto it = agents_.find(key);
    if (it == agents_.end()) return std::nullopt;
    return it->second;
  }

 private:
  engine::Database* db_;
  AuditLog* audit_;
  std::mutex write_mu_;  // one registration at a time: check, commit, cache
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, AgentKey> agents_;
};

AgentRegistry::AgentRegistry(engine::Database* db, AuditLog* audit)
    : impl_(std::make_unique<Impl>(db, audit)) {}
AgentRegistry::~AgentRegistry() = default;
Status AgentRegistry::Load() { return impl_->Load(); }
void AgentRegistry::ForgetProject(std::string_view project) { impl_->ForgetProject(project); }
Result<bool> AgentRegistry::Register(std::string_view project, std::string_view agent_id,
                                     std::string_view public_key_b64, bool caller_is_admin,
                                     std::string_view actor_key_id, int64_t now_us) {
  return impl_->Register(project, agent_id, public_key_b64, caller_is_admin, actor_key_id, now_us);
}
std::optional<AgentKey> AgentRegistry::Find(std::string_view project,
                                            std::string_view agent_id) const {
  return impl_->Find(project, agent_id);
}

}  // namespace stemedb::auth
