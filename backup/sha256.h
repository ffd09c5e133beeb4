// Sha256: incremental SHA-256 over OpenSSL EVP, for the backup manifest's
// per-file checksums and the whole-archive checksum sidecar.
//
// Streaming by design: callers feed 1 MiB pieces, so memory stays bounded
// whatever the size of what is hashed. Not thread-safe; one per stream.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace stemedb::backup {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  // Lowercase hex of the digest (64 characters). Terminal: REQUIRES no
  // further Update/Final calls.
  std::string FinalHex();

  // One-shot convenience.
  static std::string Hex(std::string_view data);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// True iff `text` is 64 lowercase hex characters.
bool IsSha256Hex(std::string_view text);

}  // namespace stemedb::backup
