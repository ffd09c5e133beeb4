// Storage form of a KeyRecord in engine SystemTable::kApiKeys (internal to
// auth/). One compact JSON object per key, keyed by key_id:
//   {"v":1,"key_id","hash","label","role","project","rate_limit"|null,
//    "created_at_us","expires_at_us","revoked_at_us","rotated_to","root"}
// "v" lets a later version change the shape; unknown versions are refused.
#pragma once

#include <string>
#include <string_view>

#include "auth/key_store.h"
#include "util/status.h"

namespace stemedb::auth {

std::string EncodeKeyRecord(const KeyRecord& record);
// Corruption if the bytes are not a record this version understands.
Result<KeyRecord> DecodeKeyRecord(std::string_view bytes);

// Raw 32-byte BLAKE2b-256 of `key` (HashKeyHex is its hex form).
std::string HashKeyRaw(std::string_view key);

// Label: 1..128 bytes, no control characters. (Project names:
// auth/project_name.h.)
bool IsValidLabel(std::string_view label);

}  // namespace stemedb::auth
