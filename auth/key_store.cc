#include "auth/key_store.h"

#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "auth/audit_log.h"
#include "auth/encoding.h"
#include "auth/key_format.h"
#include "auth/stored_record.h"
#include "auth/usage_meter.h"
#include "util/hex.h"
#include "util/logging.h"

namespace stemedb::auth {
namespace {

constexpr size_t kHashBytes = 32;
// Unauthenticated message for every rejection: callers cannot tell a
// malformed key from an unknown, revoked or expired one, and it never
// contains the presented key.
constexpr std::string_view kInvalidKey = "invalid api key";

// The map key: the first 8 bytes of the hash, i.e. key_id as a number.
uint64_t IdNumberOfHash(const std::string& raw_hash) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(raw_hash[i]);
  return v;
}

bool ParseKeyId(std::string_view key_id, uint64_t* out) { return ParseHex64(key_id, out); }

struct CachedKey {
  KeyRecord record;
  std::string raw_hash;  // 32 bytes, compared with sodium_memcmp
};

bool IsRevokedAt(const KeyRecord& r, int64_t now_us) {
  return r.revoked_at_us != 0 && now_us >= r.revoked_at_us;
}
bool IsExpiredAt(const KeyRecord& r, int64_t now_us) {
  return r.expires_at_us != 0 && now_us >= r.expires_at_us;
}

}  // namespace

class KeyStore::Impl {
 public:
  Impl(engine::Database* db, AuditLog* audit) : db_(db), audit_(audit) {}

  Status Load() {
    EnsureSodium();
    std::unordered_map<uint64_t, CachedKey> loaded;
    STEMEDB_RETURN_IF_ERROR(ScanStoredRecords(
        db_, engine::SystemTable::kApiKeys, "key store load",
        [](std::string_view, std::string_view value) { return DecodeKeyRecord(value); },
        [&](std::string_view, KeyRecord record) {
          std::string raw = HexToRaw(record.hash_hex);
          const uint64_t id = IdNumberOfHash(raw);
          loaded.emplace(id, CachedKey{std::move(record), std::move(raw)});
        }));
    std::unique_lock lock(mu_);
    keys_ = std::move(loaded);
    return Status::OK();
  }

  bool empty() const {
    std::shared_lock lock(mu_);
    return keys_.empty();
  }

  Result<Principal> Authenticate(std::string_view presented, int64_t now_us) const {
    if (!IsWellFormedKey(presented)) return Status::Unauthenticated(kInvalidKey);
    const std::string raw = HashKeyRaw(presented);
    std::shared_lock lock(mu_);
    auto it = keys_.find(IdNumberOfHash(raw));
    // The map lookup only used the (public) key_id; the full hash is then
    // compared in constant time.
    if (it == keys_.end() ||
        sodium_memcmp(it->second.raw_hash.data(), raw.data(), kHashBytes) != 0) {
      return Status::Unauthenticated(kInvalidKey);
    }
    const KeyRecord& r = it->second.record;
    if (IsRevokedAt(r, now_us) || IsExpiredAt(r, now_us)) {
      return Status::Unauthenticated(kInvalidKey);
    }
    return Principal{r.key_id, r.role, r.project, r.label, r.rate_limit};
  }

  Result<bool> SeedRootKey(std::string_view root_key, int64_t now_us) {
    if (!IsWellFormedKey(root_key)) {
      return Status::InvalidArgument(
          "STEMEDB_ROOT_API_KEY is malformed (expected steme_live_ + 48 lowercase hex)");
    }
    const std::string raw = HashKeyRaw(root_key);
    const uint64_t id = IdNumberOfHash(raw);
    std::lock_guard write_lock(write_mu_);
    {
      std::shared_lock lock(mu_);
      auto it = keys_.find(id);
      if (it != keys_.end()) {
        if (sodium_memcmp(it->second.raw_hash.data(), raw.data(), kHashBytes) != 0) {
          return Status::Conflict("root key id collides with another key");
        }
        if (IsRevokedAt(it->second.record, now_us)) {
          log::Warn("root API key is revoked; not re-enabling it",
                    {{"key_id", it->second.record.key_id}});
        }
        return false;
      }
    }
    KeyRecord record;
    SetHash(raw, &record);
    record.label = "root";
    record.role = Role::kAdmin;
    record.created_at_us = now_us;
    record.is_root = true;
    STEMEDB_RETURN_IF_ERROR(
        Commit({PutWrite(record)}, Audit(now_us, "system", "key.seed_root", record.key_id,
                                         "root key from STEMEDB_ROOT_API_KEY or root.key")));
    Insert(record, raw);
    return true;
  }

  Result<IssuedKey> Create(const CreateKeyRequest& request, std::string_view actor,
                           int64_t now_us) {
    if (!IsValidLabel(request.label)) {
      return Status::InvalidArgument("label must be 1..128 characters without control characters");
    }
    if (SpansAllProjects(request.role)) {
      if (!request.project.empty()) {
        return Status::InvalidArgument(std::string(RoleName(request.role)) +
                                       " keys are not bound to a project");
      }
    } else if (!IsValidProjectName(request.project)) {
      return Status::InvalidArgument("project " + std::string(kProjectNameRule));
    }
    if (request.expires_at_us != 0 && request.expires_at_us <= now_us) {
      return Status::InvalidArgument("expires_at must be in the future");
    }
    if (request.rate_limit) {
      Result<RateLimitSpec> check = ParseRateLimit(request.rate_limit->ToString());
      if (!check) return check.error();
    }
    std::lock_guard write_lock(write_mu_);
    KeyRecord record;
    std::string key;
    std::string raw;
    STEMEDB_RETURN_IF_ERROR(NewRecord(request, now_us, &record, &key, &raw));
    STEMEDB_RETURN_IF_ERROR(
        Commit({PutWrite(record)},
               Audit(now_us, actor, "key.create", record.key_id,
                     "role=" + std::string(RoleName(record.role)) +
                         (record.project.empty() ? "" : " project=" + record.project))));
    Insert(record, raw);
    return IssuedKey{std::move(key), std::move(record)};
  }

  std::vector<KeyRecord> List() const {
    std::vector<KeyRecord> out;
    {
      std::shared_lock lock(mu_);
      out.reserve(keys_.size());
      for (const auto& [id, cached] : keys_) out.push_back(cached.record);
    }
    for (KeyRecord& r : out) FillLastUsed(&r);
    std::sort(out.begin(), out.end(), [](const KeyRecord& a, const KeyRecord& b) {
      return std::tie(a.created_at_us, a.key_id) < std::tie(b.created_at_us, b.key_id);
    });
    return out;
  }

  Result<KeyRecord> Get(std::string_view key_id) const {
    uint64_t id;
    if (!ParseKeyId(key_id, &id)) return Status::NotFound("no such key");
    KeyRecord record;
    {
      std::shared_lock lock(mu_);
      auto it = keys_.find(id);
      if (it == keys_.end()) return Status::NotFound("no such key");
      record = it->second.record;
    }
    FillLastUsed(&record);
    return record;
  }

  Status Revoke(std::string_view key_id, std::string_view actor, int64_t now_us) {
    std::lock_guard write_lock(write_mu_);
    Result<KeyRecord> current = Get(key_id);
    if (!current) return current.error();
    KeyRecord record = std::move(*current);
    if (IsRevokedAt(record, now_us)) return Status::OK();
    record.revoked_at_us = now_us;
    STEMEDB_RETURN_IF_ERROR(
        Commit({PutWrite(record)}, Audit(now_us, actor, "key.revoke", record.key_id, "")));
    Replace(record);
    return Status::OK();
  }

  Result<IssuedKey> Rotate(std::string_view key_id, int64_t grace_seconds, std::string_view actor,
                           int64_t now_us) {
    if (grace_seconds < 0 || grace_seconds > 365LL * 24 * 3600) {
      return Status::InvalidArgument("grace_seconds must be between 0 and one year");
    }
    std::lock_guard write_lock(write_mu_);
    Result<KeyRecord> current = Get(key_id);
    if (!current) return current.error();
    KeyRecord old_record = std::move(*current);
    if (!old_record.rotated_to.empty()) return Status::Conflict("key was already rotated");
    if (IsRevokedAt(old_record, now_us)) return Status::Conflict("key is revoked");
    if (IsExpiredAt(old_record, now_us)) return Status::Conflict("key has expired");

    // The successor keeps what the key is for and gets the same lifetime.
    CreateKeyRequest successor{old_record.label, old_record.role, old_record.project,
                               old_record.rate_limit, 0};
    if (old_record.expires_at_us != 0) {
      successor.expires_at_us = now_us + (old_record.expires_at_us - old_record.created_at_us);
    }
    KeyRecord new_record;
    std::string key;
    std::string raw;
    STEMEDB_RETURN_IF_ERROR(NewRecord(successor, now_us, &new_record, &key, &raw));

    old_record.revoked_at_us = now_us + grace_seconds * 1000000;
    old_record.rotated_to = new_record.key_id;
    STEMEDB_RETURN_IF_ERROR(Commit({PutWrite(new_record), PutWrite(old_record)},
                                   Audit(now_us, actor, "key.rotate", old_record.key_id,
                                         "new_key_id=" + new_record.key_id +
                                             " grace_seconds=" + std::to_string(grace_seconds))));
    Replace(old_record);
    Insert(new_record, raw);
    return IssuedKey{std::move(key), std::move(new_record)};
  }

  void set_meter(const UsageMeter* meter) { meter_.store(meter, std::memory_order_release); }

 private:
  static std::string HexToRaw(const std::string& hex) {
    std::string raw(kHashBytes, '\0');
    size_t len = 0;
    sodium_hex2bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), hex.data(), hex.size(),
                   nullptr, &len, nullptr);
    return raw;
  }

  static engine::SystemWrite PutWrite(const KeyRecord& record) {
    return engine::SystemWrite{engine::SystemTable::kApiKeys, record.key_id,
                               EncodeKeyRecord(record)};
  }

  static AuditRecord Audit(int64_t now_us, std::string_view actor, std::string_view action,
                           std::string_view target, std::string detail) {
    AuditRecord r;
    r.time_us = now_us;
    r.actor_key_id = std::string(actor);
    r.action = std::string(action);
    r.target = std::string(target);
    r.detail = std::move(detail);
    return r;
  }

  // The change and its audit record in one engine commit (one WAL record).
  Status Commit(std::vector<engine::SystemWrite> writes, AuditRecord audit) {
    engine::SystemEntry entry;
    entry.writes = std::move(writes);
    entry.writes.push_back(audit_->MakeAuditWrite(std::move(audit)));
    Result<engine::CommitInfo> done = db_->Submit(std::move(entry));
    if (!done) return done.error().WithContext("key store commit");
    return Status::OK();
  }

  static void SetHash(const std::string& raw, KeyRecord* record) {
    record->hash_hex = ToHex(raw);
    record->key_id = record->hash_hex.substr(0, 16);
  }

  // The record of a fresh key for `request` (already validated), the key
  // itself and its raw hash. Caller holds write_mu_.
  Status NewRecord(const CreateKeyRequest& request, int64_t now_us, KeyRecord* record,
                   std::string* key, std::string* raw) const {
    STEMEDB_RETURN_IF_ERROR(NewUniqueKey(key, raw));
    record->label = request.label;
    record->role = request.role;
    record->project = request.project;
    record->rate_limit = request.rate_limit;
    record->created_at_us = now_us;
    record->expires_at_us = request.expires_at_us;
    SetHash(*raw, record);
    return Status::OK();
  }

  // A fresh key whose key_id is not taken (a 64-bit collision is not
  // expected in practice, but two keys must never share a storage slot).
  // Caller holds write_mu_.
  Status NewUniqueKey(std::string* key, std::string* raw) const {
    for (int attempt = 0; attempt < 8; ++attempt) {
      *key = GenerateKey();
      *raw = HashKeyRaw(*key);
      std::shared_lock lock(mu_);
      if (keys_.find(IdNumberOfHash(*raw)) == keys_.end()) return Status::OK();
    }
    return Status::Failed("could not generate a unique key id");
  }

  void Insert(const KeyRecord& record, const std::string& raw) {
    std::unique_lock lock(mu_);
    keys_[IdNumberOfHash(raw)] = CachedKey{record, raw};
  }

  void Replace(const KeyRecord& record) {
    uint64_t id;
    if (!ParseKeyId(record.key_id, &id)) return;
    std::unique_lock lock(mu_);
    auto it = keys_.find(id);
    if (it != keys_.end()) it->second.record = record;
  }

  void FillLastUsed(KeyRecord* record) const {
    const UsageMeter* meter = meter_.load(std::memory_order_acquire);
    if (meter == nullptr) return;
    std::optional<UsageCounters> usage = meter->ForKey(record->key_id);
    if (usage) record->last_used_at_us = usage->last_used_at_us;
  }

  engine::Database* db_;
  AuditLog* audit_;
  std::atomic<const UsageMeter*> meter_{nullptr};
  // Serializes mutations: read-modify-write of a record, its commit and the
  // cache update happen as one step (admin operations are rare).
  std::mutex write_mu_;
  mutable std::shared_mutex mu_;  // guards keys_
  std::unordered_map<uint64_t, CachedKey> keys_;
};

KeyStore::KeyStore(engine::Database* db, AuditLog* audit)
    : impl_(std::make_unique<Impl>(db, audit)) {}
KeyStore::~KeyStore() = default;

Status KeyStore::Load() { return impl_->Load(); }
void KeyStore::SetUsageMeter(const UsageMeter* meter) { impl_->set_meter(meter); }
bool KeyStore::empty() const { return impl_->empty(); }
Result<Principal> KeyStore::Authenticate(std::string_view presented_key, int64_t now_us) const {
  return impl_->Authenticate(presented_key, now_us);
}
Result<bool> KeyStore::SeedRootKey(std::string_view root_key, int64_t now_us) {
  return impl_->SeedRootKey(root_key, now_us);
}
Result<IssuedKey> KeyStore::Create(const CreateKeyRequest& request, std::string_view actor_key_id,
                                   int64_t now_us) {
  return impl_->Create(request, actor_key_id, now_us);
}
std::vector<KeyRecord> KeyStore::List() const { return impl_->List(); }
Result<KeyRecord> KeyStore::Get(std::string_view key_id) const { return impl_->Get(key_id); }
Status KeyStore::Revoke(std::string_view key_id, std::string_view actor_key_id, int64_t now_us) {
  return impl_->Revoke(key_id, actor_key_id, now_us);
}
Result<IssuedKey> KeyStore::Rotate(std::string_view key_id, int64_t grace_seconds,
                                   std::string_view actor_key_id, int64_t now_us) {
  return impl_->Rotate(key_id, grace_seconds, actor_key_id, now_us);
}

}  // namespace stemedb::auth
