// Free functions of key_store.h (key format, hashing, roles, rate-limit
// specs, JSON rendering) and the storage codec of key_format.h.
#include "auth/key_format.h"

#include <sodium.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>

#include "auth/encoding.h"
#include "auth/stored_record.h"
#include "util/time_format.h"

namespace stemedb::auth {
namespace {

constexpr std::string_view kKeyPrefix = "steme_live_";
constexpr size_t kKeyRandomBytes = 24;
constexpr size_t kKeyHexLen = kKeyRandomBytes * 2;
constexpr size_t kKeyIdHexLen = 16;

// A positive decimal number made only of digits and at most one '.', so that
// from_chars cannot sneak in "inf", "nan", exponents or signs.
bool ParsePlainNumber(std::string_view text, double* out) {
  if (text.empty() || text.size() > 32) return false;
  int dots = 0;
  for (char c : text) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  if (dots > 1 || text.front() == '.' || text.back() == '.') return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(*out);
}

std::string FormatPlainNumber(double number) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), number, std::chars_format::fixed);
  if (ec != std::errc()) return "0";
  return std::string(buf, end);
}

boost::json::value TimeOrNull(int64_t us) {
  if (us == 0) return nullptr;
  return boost::json::string(FormatRfc3339(us));
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kWriteAgent:
      return "write_agent";
    case Role::kReadOnly:
      return "read_only";
    case Role::kBackup:
      return "backup";
  }
  return "read_only";
}

Result<Role> ParseRole(std::string_view text) {
  if (text == "admin") return Role::kAdmin;
  if (text == "write_agent") return Role::kWriteAgent;
  if (text == "read_only") return Role::kReadOnly;
  if (text == "backup") return Role::kBackup;
  return Status::InvalidArgument(kRoleRule);
}

std::string RateLimitSpec::ToString() const {
  return FormatPlainNumber(rate_per_second) + "/s," + FormatPlainNumber(burst);
}

Result<RateLimitSpec> ParseRateLimit(std::string_view text) {
  const Status bad =
      Status::InvalidArgument("rate limit must look like \"<rate>/s,<burst>\", e.g. \"200/s,400\"");
  size_t slash = text.find("/s,");
  if (slash == std::string_view::npos) return bad;
  RateLimitSpec spec;
  if (!ParsePlainNumber(text.substr(0, slash), &spec.rate_per_second)) return bad;
  if (!ParsePlainNumber(text.substr(slash + 3), &spec.burst)) return bad;
  if (spec.rate_per_second <= 0 || spec.rate_per_second > 1e9) {
    return Status::InvalidArgument("rate limit: rate must be > 0 and <= 1e9 per second");
  }
  if (spec.burst < 1 || spec.burst > 1e9) {
    return Status::InvalidArgument("rate limit: burst must be >= 1 and <= 1e9");
  }
  return spec;
}

bool IsWellFormedKey(std::string_view key) {
  if (key.size() != kKeyPrefix.size() + kKeyHexLen || !key.starts_with(kKeyPrefix)) return false;
  for (char c : key.substr(kKeyPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string GenerateKey() {
  EnsureSodium();
  unsigned char random[kKeyRandomBytes];
  randombytes_buf(random, sizeof(random));
  std::string key(kKeyPrefix);
  key += ToHex(std::string_view(reinterpret_cast<const char*>(random), sizeof(random)));
  sodium_memzero(random, sizeof(random));
  return key;
}

std::string HashKeyRaw(std::string_view key) {
  EnsureSodium();
  std::string hash(crypto_generichash_BYTES, '\0');
  static_assert(crypto_generichash_BYTES == 32, "BLAKE2b-256");
  crypto_generichash(reinterpret_cast<unsigned char*>(hash.data()), hash.size(),
                     reinterpret_cast<const unsigned char*>(key.data()), key.size(), nullptr, 0);
  return hash;
}

std::string HashKeyHex(std::string_view key) { return ToHex(HashKeyRaw(key)); }

std::string KeyIdOf(std::string_view key) { return HashKeyHex(key).substr(0, kKeyIdHexLen); }

bool IsValidLabel(std::string_view label) {
  if (label.empty() || label.size() > 128) return false;
  for (char c : label) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

std::string KeyRecordJson(const KeyRecord& record, int64_t now_us) {
  boost::json::object o;
  o["key_id"] = record.key_id;
  o["label"] = record.label;
  o["role"] = RoleName(record.role);
  if (record.project.empty()) {
    o["project"] = nullptr;
  } else {
    o["project"] = record.project;
  }
  o["created_at"] = TimeOrNull(record.created_at_us);
  o["last_used_at"] = TimeOrNull(record.last_used_at_us);
  o["expires_at"] = TimeOrNull(record.expires_at_us);
  o["revoked_at"] = TimeOrNull(record.revoked_at_us);
  const bool revoked = record.revoked_at_us != 0 && now_us >= record.revoked_at_us;
  const bool expired = record.expires_at_us != 0 && now_us >= record.expires_at_us;
  o["revoked"] = revoked;
  o["expired"] = expired;
  if (!record.rotated_to.empty()) o["rotated_to"] = record.rotated_to;
  if (record.rate_limit) {
    o["rate_limit"] = record.rate_limit->ToString();
  } else {
    o["rate_limit"] = nullptr;
  }
  o["root"] = record.is_root;
  return boost::json::serialize(o);
}

std::string KeyRecordJson(const KeyRecord& record) {
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  return KeyRecordJson(record, now_us);
}

std::string EncodeKeyRecord(const KeyRecord& record) {
  boost::json::object o;
  o["v"] = 1;
  o["key_id"] = record.key_id;
  o["hash"] = record.hash_hex;
  o["label"] = record.label;
  o["role"] = RoleName(record.role);
  o["project"] = record.project;
  if (record.rate_limit) {
    o["rate_limit"] = record.rate_limit->ToString();
  } else {
    o["rate_limit"] = nullptr;
  }
  o["created_at_us"] = record.created_at_us;
  o["expires_at_us"] = record.expires_at_us;
  o["revoked_at_us"] = record.revoked_at_us;
  o["rotated_to"] = record.rotated_to;
  o["root"] = record.is_root;
  return boost::json::serialize(o);
}

Result<KeyRecord> DecodeKeyRecord(std::string_view bytes) {
  Result<boost::json::object> parsed = ParseStoredObject(bytes, "api key record");
  if (!parsed) return parsed.error();
  const boost::json::object& o = *parsed;
  if (GetInt(o, "v") != 1) return Status::Corruption("api key record: unknown version");
  KeyRecord record;
  record.key_id = GetString(o, "key_id");
  record.hash_hex = GetString(o, "hash");
  const bool hex = std::all_of(record.hash_hex.begin(), record.hash_hex.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (record.hash_hex.size() != 64 || !hex ||
      record.hash_hex.substr(0, kKeyIdHexLen) != record.key_id) {
    return Status::Corruption("api key record " + record.key_id + ": bad hash");
  }
  record.label = GetString(o, "label");
  Result<Role> role = ParseRole(GetString(o, "role"));
  if (!role) return Status::Corruption("api key record " + record.key_id + ": bad role");
  record.role = *role;
  record.project = GetString(o, "project");
  std::string rate = GetString(o, "rate_limit");
  if (!rate.empty()) {
    Result<RateLimitSpec> spec = ParseRateLimit(rate);
    if (!spec) return Status::Corruption("api key record " + record.key_id + ": bad rate_limit");
    record.rate_limit = *spec;
  }
  record.created_at_us = GetInt(o, "created_at_us");
  record.expires_at_us = GetInt(o, "expires_at_us");
  record.revoked_at_us = GetInt(o, "revoked_at_us");
  record.rotated_to = GetString(o, "rotated_to");
  const boost::json::value* root = o.if_contains("root");
  record.is_root = root != nullptr && root->is_bool() && root->get_bool();
  return record;
}

}  // namespace stemedb::auth
