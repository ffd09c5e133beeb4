#include "auth/signature.h"

#include <sodium.h>

#include "auth/canonical_json.h"
#include "auth/encoding.h"

namespace stemedb::auth {

std::string CanonicalSigningBytes(const SignedFields& fields) {
  // Members in JCS order (all names are ASCII, so plain byte order). The
  // value is re-canonicalized here so the signed bytes do not depend on how
  // api/ chose to normalize value_json before handing it over.
  std::string out;
  out.reserve(128 + fields.value_json.size());
  out.append("{\"agent_id\":");
  AppendCanonicalString(fields.agent_id, &out);
  if (fields.confidence.has_value()) {
    out.append(",\"confidence\":");
    AppendCanonicalNumber(*fields.confidence, &out);
  }
  if (!fields.observed_at.empty()) {
    out.append(",\"observed_at\":");
    AppendCanonicalString(fields.observed_at, &out);
  }
  out.append(",\"predicate\":");
  AppendCanonicalString(fields.predicate, &out);
  out.append(",\"project\":");
  AppendCanonicalString(fields.project, &out);
  out.append(",\"subject\":");
  AppendCanonicalString(fields.subject, &out);
  out.append(",\"value\":");
  Result<std::string> value = CanonicalizeJson(fields.value_json);
  // api/ validated the value already; if it somehow is not JSON, signing the
  // raw bytes keeps this function total and verification simply fails.
  out.append(value ? *value : std::string(fields.value_json));
  out.push_back('}');
  return out;
}

Status VerifyAssertionSignature(const SignedFields& fields, std::string_view signature_b64,
                                std::string_view public_key_b64) {
  EnsureSodium();
  std::optional<std::string> signature = FromBase64(signature_b64, crypto_sign_BYTES);
  if (!signature) {
    return Status::Unauthenticated("bad_signature: signature is not base64 of 64 bytes");
  }
  std::optional<std::string> public_key = FromBase64(public_key_b64, crypto_sign_PUBLICKEYBYTES);
  if (!public_key) {
    return Status::Unauthenticated("bad_signature: registered public key is not usable");
  }
  const std::string message = CanonicalSigningBytes(fields);
  if (crypto_sign_verify_detached(
          reinterpret_cast<const unsigned char*>(signature->data()),
          reinterpret_cast<const unsigned char*>(message.data()), message.size(),
          reinterpret_cast<const unsigned char*>(public_key->data())) != 0) {
    return Status::Unauthenticated("bad_signature: signature does not verify");
  }
  return Status::OK();
}

}  // namespace stemedb::auth
