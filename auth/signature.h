// Agent signatures: the canonical encoding an agent signs, and verification.
//
// The signed message is documented with a worked example in
// docs/signatures.md; tests/auth verifies that example byte for byte.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace stemedb::auth {

// The fields of an assertion that a signature covers.
struct SignedFields {
  std::string_view project;
  std::string_view subject;
  std::string_view predicate;
  std::string_view value_json;  // canonical JSON (keys sorted, compact)
  std::string_view agent_id;
  std::optional<double> confidence;
  std::string_view observed_at;  // "" if absent
};

// The exact bytes signed (see docs/signatures.md).
std::string CanonicalSigningBytes(const SignedFields& fields);

// OK if `signature_b64` is a valid Ed25519 signature (crypto_sign_verify_detached)
// by `public_key_b64` over CanonicalSigningBytes(fields); Unauthenticated
// ("bad_signature: ...") otherwise.
Status VerifyAssertionSignature(const SignedFields& fields, std::string_view signature_b64,
                                std::string_view public_key_b64);

}  // namespace stemedb::auth
