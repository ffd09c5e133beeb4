// The worked example of docs/signatures.md, byte for byte, and the ways a
// signature must fail.
#include "auth/signature.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <string>

#include "auth/encoding.h"

namespace stemedb::auth {
namespace {

// docs/signatures.md, "Worked example". The seed is the RFC 8032 §7.1 TEST 1
// secret key, so the public key can be checked against the RFC too.
constexpr char kSeedHex[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr char kPublicKeyB64[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
constexpr char kSignedBytes[] =
    R"({"agent_id":"thermo-agent-7","confidence":0.9,"observed_at":"2026-11-22T15:38:22Z",)"
    R"("predicate":"temperature","project":"demo","subject":"sensor:42",)"
    R"("value":{"reading":21.5,"tags":["roof","north"],"unit":"C"}})";
constexpr char kSignatureB64[] =
    "OnINhHgL4Dut6QyXda9WGpEerJyQYp22akA6eTXlNVeU+HY2W96w3jrIuMZB2SJe0JWkCUpmcyFwDVFlbjUcBw==";
// The value exactly as the client sent it: not canonical (spaces, key order,
// a trailing zero), which must not matter.
constexpr char kValueAsSent[] = R"({"unit": "C", "reading": 21.50, "tags": ["roof", "north"]})";

SignedFields ExampleFields() {
  SignedFields f;
  f.project = "demo";
  f.subject = "sensor:42";
  f.predicate = "temperature";
  f.value_json = kValueAsSent;
  f.agent_id = "thermo-agent-7";
  f.confidence = 0.9;
  f.observed_at = "2026-11-22T15:38:22Z";
  return f;
}

std::string Sign(const std::string& message, const unsigned char sk[64]) {
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), sk);
  return ToBase64(std::string(reinterpret_cast<char*>(sig), sizeof(sig)));
}

class SignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EnsureSodium();
    unsigned char seed[32];
    size_t len = 0;
    ASSERT_EQ(sodium_hex2bin(seed, sizeof(seed), kSeedHex, 64, nullptr, &len, nullptr), 0);
    ASSERT_EQ(len, 32u);
    crypto_sign_seed_keypair(pk_, sk_, seed);
  }
  unsigned char pk_[32];
  unsigned char sk_[64];
};

TEST_F(SignatureTest, WorkedExampleBytesKeyAndSignature) {
  EXPECT_EQ(ToBase64(std::string(reinterpret_cast<char*>(pk_), 32)), kPublicKeyB64);
  EXPECT_EQ(ToHex(std::string(reinterpret_cast<char*>(pk_), 32)),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");  // RFC 8032
  const std::string bytes = CanonicalSigningBytes(ExampleFields());
  EXPECT_EQ(bytes, kSignedBytes);
  EXPECT_EQ(bytes.size(), 208u);
  // Ed25519 is deterministic: the same seed and bytes give the same signature.
  EXPECT_EQ(Sign(bytes, sk_), kSignatureB64);
  EXPECT_TRUE(VerifyAssertionSignature(ExampleFields(), kSignatureB64, kPublicKeyB64).ok());
}

TEST_F(SignatureTest, OptionalFieldsAreLeftOutWhenAbsent) {
  SignedFields f = ExampleFields();
  f.confidence.reset();
  f.observed_at = "";
  f.value_json = "42.0";
  EXPECT_EQ(CanonicalSigningBytes(f),
            R"({"agent_id":"thermo-agent-7","predicate":"temperature","project":"demo",)"
            R"("subject":"sensor:42","value":42})");
}

TEST_F(SignatureTest, StringsAreEscapedCanonically) {
  SignedFields f = ExampleFields();
  f.subject = "a\"b\\c\n\x01/\xc3\xa9";
  f.confidence = 1.0;
  f.observed_at = "";
  f.value_json = "null";
  EXPECT_EQ(CanonicalSigningBytes(f),
            "{\"agent_id\":\"thermo-agent-7\",\"confidence\":1,\"predicate\":\"temperature\","
            "\"project\":\"demo\",\"subject\":\"a\\\"b\\\\c\\n\\u0001/\xc3\xa9\",\"value\":null}");
}

TEST_F(SignatureTest, TamperedFieldsAreRejected) {
  auto expect_bad = [&](const SignedFields& f) {
    Status s = VerifyAssertionSignature(f, kSignatureB64, kPublicKeyB64);
    EXPECT_EQ(s.code(), Status::Code::kUnauthenticated);
    EXPECT_NE(s.message().find("bad_signature"), std::string::npos);
  };
  SignedFields f = ExampleFields();
  f.value_json = R"({"unit":"C","reading":21.6,"tags":["roof","north"]})";
  expect_bad(f);
  f = ExampleFields();
  f.subject = "sensor:43";  // replay onto another subject
  expect_bad(f);
  f = ExampleFields();
  f.project = "other";  // replay into another project
  expect_bad(f);
  f = ExampleFields();
  f.confidence = 0.91;
  expect_bad(f);
  f = ExampleFields();
  f.confidence.reset();
  expect_bad(f);
  f = ExampleFields();
  f.observed_at = "";
  expect_bad(f);
  f = ExampleFields();
  f.agent_id = "thermo-agent-8";
  expect_bad(f);
}

TEST_F(SignatureTest, WrongKeyAndMalformedInputsAreRejected) {
  unsigned char other_pk[32], other_sk[64];
  crypto_sign_keypair(other_pk, other_sk);
  const std::string other_b64 = ToBase64(std::string(reinterpret_cast<char*>(other_pk), 32));
  EXPECT_EQ(VerifyAssertionSignature(ExampleFields(), kSignatureB64, other_b64).code(),
            Status::Code::kUnauthenticated);
  // Signed by another key, checked against the registered one.
  const std::string foreign = Sign(kSignedBytes, other_sk);
  EXPECT_EQ(VerifyAssertionSignature(ExampleFields(), foreign, kPublicKeyB64).code(),
            Status::Code::kUnauthenticated);
  EXPECT_TRUE(VerifyAssertionSignature(ExampleFields(), foreign, other_b64).ok());

  std::string flipped = kSignatureB64;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(VerifyAssertionSignature(ExampleFields(), flipped, kPublicKeyB64).ok());
  EXPECT_FALSE(VerifyAssertionSignature(ExampleFields(), "", kPublicKeyB64).ok());
  EXPECT_FALSE(VerifyAssertionSignature(ExampleFields(), "not base64!", kPublicKeyB64).ok());
  // URL-safe alphabet and missing padding are not the documented encoding.
  std::string urlsafe = kSignatureB64;
  for (char& c : urlsafe) c = c == '+' ? '-' : c == '/' ? '_' : c;
  EXPECT_FALSE(VerifyAssertionSignature(ExampleFields(), urlsafe, kPublicKeyB64).ok());
  std::string unpadded(kSignatureB64);
  unpadded.resize(unpadded.size() - 2);
  EXPECT_FALSE(VerifyAssertionSignature(ExampleFields(), unpadded, kPublicKeyB64).ok());
  EXPECT_FALSE(VerifyAssertionSignature(ExampleFields(), kSignatureB64, "short").ok());
}

}  // namespace
}  // namespace stemedb::auth
