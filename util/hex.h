// Fixed-width lowercase hex for 64-bit numbers: the form of WAL segment names,
// audit sequence keys and API key ids. Only the canonical form parses (no
// upper case, no prefix, exactly 16 digits), so a name has one spelling.
#pragma once

#include <cstdint>
#include <string_view>

namespace stemedb {

inline constexpr size_t kHex64Digits = 16;

// True and *out set if `text` is exactly 16 lowercase hex digits.
bool ParseHex64(std::string_view text, uint64_t* out);

}  // namespace stemedb
