// KeyStore: API keys, roles and projects (docs/api.md).
//
// A key is "steme_live_" + 48 lowercase hex (24 bytes from libsodium's
// CSPRNG). Only its BLAKE2b-256 hash is stored (engine SystemTable::kApiKeys,
// keyed by key_id = first 16 hex of the hash). Every key is cached in memory
// by hash, so Authenticate() is one hash + one hash-map lookup, and the final
// comparison of the full hash is constant-time (sodium_memcmp).
//
// Every mutation goes through the engine (so through the WAL: durable before
// the reply) and writes its audit record in the same commit (audit_log.h).
// The cache is updated after the commit succeeds, so revocation takes effect
// for the very next request.
//
// Thread-safety: all methods may be called concurrently (shared_mutex around
// the cache; the engine serializes commits).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/project_name.h"
#include "engine/database.h"
#include "util/status.h"

namespace stemedb::auth {

class AuditLog;
class UsageMeter;

// kBackup is least privilege for backup jobs: it may stream backups (the
// backup download route) and nothing else: no data, no key administration.
// Like kAdmin it spans all projects (a backup holds every project).
enum class Role { kAdmin, kWriteAgent, kReadOnly, kBackup };
// "admin" | "write_agent" | "read_only" | "backup".
std::string_view RoleName(Role role);
// InvalidArgument(kRoleRule) for any other text.
Result<Role> ParseRole(std::string_view text);
inline constexpr std::string_view kRoleRule =
    "role must be admin, write_agent, read_only or backup";
// True for roles whose keys span all projects (admin, backup): such a key
// has no project of its own.
inline bool SpansAllProjects(Role role) { return role == Role::kAdmin || role == Role::kBackup; }

// Token bucket parameters: "<rate>/s,<burst>", e.g. "200/s,400".
struct RateLimitSpec {
  double rate_per_second = 200;
  double burst = 400;
  std::string ToString() const;  // "200/s,400"
};
Result<RateLimitSpec> ParseRateLimit(std::string_view text);

// True for "steme_live_" + exactly 48 lowercase hex digits.
bool IsWellFormedKey(std::string_view key);
// A fresh random key (libsodium randombytes_buf).
std::string GenerateKey();
// Lowercase hex BLAKE2b-256 of the key (crypto_generichash, 32 bytes).
std::string HashKeyHex(std::string_view key);
// First 16 hex of HashKeyHex(key).
std::string KeyIdOf(std::string_view key);

// What a request is allowed to do, resolved from its key.
struct Principal {
  std::string key_id;
  Role role = Role::kReadOnly;
  std::string project;  // "" for admin and backup keys (all projects)
  std::string label;
  std::optional<RateLimitSpec> rate_limit;  // per-key override, else default
};

// A key as stored and listed (never holds the key itself).
struct KeyRecord {
  std::string key_id;
  std::string hash_hex;
  std::string label;
  Role role = Role::kReadOnly;
  std::string project;
  std::optional<RateLimitSpec> rate_limit;
  int64_t created_at_us = 0;
  int64_t expires_at_us = 0;    // 0 = never
  int64_t revoked_at_us = 0;    // 0 = active; a future time = rotation grace end
  std::string rotated_to;       // key_id of the successor, if rotated
  int64_t last_used_at_us = 0;  // from metering; 0 = never
  bool is_root = false;         // seeded from STEMEDB_ROOT_API_KEY / root.key
};
// Renders a KeyRecord as the JSON object of the admin routes (no secret):
// {"key_id","label","role","project" (null for admin keys),"created_at",
//  "last_used_at","expires_at","revoked_at" (RFC 3339 or null; for a rotated
//  key the end of its grace period),"revoked" (bool: revoked_at reached at
//  `now_us`),"expired" (bool),"rotated_to" (only if rotated),
//  "rate_limit" ("<rate>/s,<burst>" or null),"root" (bool)}.
// The one-argument form judges "revoked" at the current wall-clock time.
std::string KeyRecordJson(const KeyRecord& record);
std::string KeyRecordJson(const KeyRecord& record, int64_t now_us);

// Create() answers InvalidArgument for a request that breaks these rules.
struct CreateKeyRequest {
  std::string label;  // 1..128 bytes, no control characters
  Role role = Role::kReadOnly;
  // Required for write_agent and read_only keys, and a valid project name
  // (auth/project_name.h); must be empty for admin and backup keys, which
  // span all projects.
  std::string project;
  std::optional<RateLimitSpec> rate_limit;
  int64_t expires_at_us = 0;  // 0 = never; else must be in the future
};

// A key just created: the only moment the secret exists outside the client.
struct IssuedKey {
  std::string key;
  KeyRecord record;
};

class KeyStore {
 public:
  // `db` and `audit` (already Load()ed; it receives every mutation's
  // record) must outlive the store. Call Load() before use.
  KeyStore(engine::Database* db, AuditLog* audit);
  ~KeyStore();

  // Reads every key from the engine into the cache.
  Status Load();
  // Optional: List()/Get() fill last_used_at_us from this meter. Not owned;
  // must outlive the store. Call before serving requests.
  void SetUsageMeter(const UsageMeter* meter);
  // True when no key exists at all (startup guard 4).
  bool empty() const;

  // Resolves a presented key at `now_us`. Unauthenticated ("invalid api key")
  // for malformed, unknown, revoked (past grace) or expired keys; the message
  // never contains the key.
  Result<Principal> Authenticate(std::string_view presented_key, int64_t now_us) const;

  // Seeds `root_key` as an admin key labelled "root" if its hash is not
  // present. Returns true if it was inserted, false if already there.
  // InvalidArgument if malformed (startup guard 3 checks first).
  // A root key that was revoked (or rotated away) through the API stays
  // revoked: seeding never resurrects a key, so revocation is final even for
  // the key in STEMEDB_ROOT_API_KEY (a warning naming only its key_id is
  // logged). The operator replaces the secret to regain a root key.
  Result<bool> SeedRootKey(std::string_view root_key, int64_t now_us);

  // Admin operations; `actor_key_id` goes into the audit record.
  Result<IssuedKey> Create(const CreateKeyRequest& request, std::string_view actor_key_id,
                           int64_t now_us);
  std::vector<KeyRecord> List() const;  // sorted by created_at
  Result<KeyRecord> Get(std::string_view key_id) const;
  // NotFound if unknown. Revoking twice is OK (idempotent: no second write
  // or audit record). Revoking a rotated key inside its grace period ends
  // the grace period now.
  Status Revoke(std::string_view key_id, std::string_view actor_key_id, int64_t now_us);
  // New key with the same label/role/project/rate limit; the old key stops
  // working after `grace_seconds` (0 = at once). If the old key had an
  // expiry, the new key gets the same lifetime counted from now. NotFound if
  // unknown; Conflict if the key is revoked or already rotated;
  // InvalidArgument for a negative grace.
  Result<IssuedKey> Rotate(std::string_view key_id, int64_t grace_seconds,
                           std::string_view actor_key_id, int64_t now_us);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stemedb::auth
