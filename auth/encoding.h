// Small encoding helpers shared by auth/: libsodium initialization, hex and
// base64 (libsodium's constant-time codecs).
//
// Internal to auth/ (other modules use the public headers).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stemedb::auth {

// Calls sodium_init() once per process (thread-safe; later calls are free).
// Aborts if libsodium cannot initialize: without it there is no CSPRNG.
void EnsureSodium();

// Lowercase hex of `bytes` (sodium_bin2hex).
std::string ToHex(std::string_view bytes);

// Standard base64 with padding (sodium_base64_VARIANT_ORIGINAL).
std::string ToBase64(std::string_view bytes);
// Decodes standard padded base64; nullopt unless the whole input is valid
// base64 of exactly `expected_len` bytes.
std::optional<std::string> FromBase64(std::string_view text, size_t expected_len);

}  // namespace stemedb::auth
