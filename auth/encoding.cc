#include "auth/encoding.h"

#include <sodium.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>

namespace stemedb::auth {

void EnsureSodium() {
  // A function-local static gives us "once" with the C++ memory model.
  static const bool initialized = [] {
    if (sodium_init() < 0) {
      std::fputs("libsodium initialization failed\n", stderr);
      std::abort();
    }
    return true;
  }();
  (void)initialized;
}

std::string ToHex(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  out.pop_back();  // the terminating NUL
  return out;
}

std::string ToBase64(std::string_view bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), kVariant);
  out.resize(out.size() - 1);
  return out;
}

std::optional<std::string> FromBase64(std::string_view text, size_t expected_len) {
  // Padded base64 of n bytes is exactly 4 * ceil(n / 3) characters; checking
  // that first rejects over-long input before decoding.
  if (text.size() != 4 * ((expected_len + 2) / 3)) return std::nullopt;
  std::string out(expected_len + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), /*ignore=*/nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return std::nullopt;
  }
  if (end != text.data() + text.size() || len != expected_len) return std::nullopt;
  out.resize(len);
  return out;
}

}  // namespace stemedb::auth
