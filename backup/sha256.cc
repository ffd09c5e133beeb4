#include "backup/sha256.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <cstdlib>

#include "util/logging.h"

namespace stemedb::backup {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
};

namespace {

// EVP only fails on allocation failure or a broken provider; there is no
// sensible recovery from either in the middle of a backup.
void CheckEvp(int rc, const char* what) {
  if (rc != 1) {
    log::Error("OpenSSL SHA-256 failed", {{"call", what}});
    std::abort();
  }
}

}  // namespace

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (ctx_->md == nullptr) CheckEvp(0, "EVP_MD_CTX_new");
  CheckEvp(EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr), "EVP_DigestInit_ex");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_->md); }

void Sha256::Update(std::string_view data) {
  if (data.empty()) return;
  CheckEvp(EVP_DigestUpdate(ctx_->md, data.data(), data.size()), "EVP_DigestUpdate");
}

std::string Sha256::FinalHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  CheckEvp(EVP_DigestFinal_ex(ctx_->md, digest, &len), "EVP_DigestFinal_ex");
  std::string out(len * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), digest, len);
  out.resize(len * 2);
  return out;
}

std::string Sha256::Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.FinalHex();
}

bool IsSha256Hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace stemedb::backup
