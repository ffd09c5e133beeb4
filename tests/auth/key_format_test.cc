// Key format, hashing, roles, rate-limit specs and the JSON renderings.
#include "auth/key_format.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <string>

#include "auth/key_store.h"

namespace stemedb::auth {
namespace {

constexpr char kFixedKey[] = "steme_live_0123456789abcdef0123456789abcdef0123456789abcdef";
// python3 -c "import hashlib; print(hashlib.blake2b(KEY.encode(), digest_size=32).hexdigest())"
constexpr char kFixedHash[] = "bc5f90e37d3e19059cfac5a25257236771d24af95d94483e299decbb3e0aadd3";

TEST(KeyFormatTest, GeneratedKeysAreWellFormedAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string key = GenerateKey();
    EXPECT_EQ(key.size(), 11u + 48u);
    EXPECT_TRUE(key.starts_with("steme_live_"));
    EXPECT_TRUE(IsWellFormedKey(key)) << "generated key is malformed";
    seen.insert(key);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(KeyFormatTest, MalformedKeysAreRecognized) {
  std::string good = kFixedKey;
  EXPECT_TRUE(IsWellFormedKey(good));
  EXPECT_FALSE(IsWellFormedKey(""));
  EXPECT_FALSE(IsWellFormedKey("steme_live_"));
  EXPECT_FALSE(IsWellFormedKey(good.substr(0, good.size() - 1)));  // 47 hex
  EXPECT_FALSE(IsWellFormedKey(good + "0"));                       // 49 hex
  EXPECT_FALSE(IsWellFormedKey("steme_test_" + good.substr(11)));  // other prefix
  std::string upper = good;
  upper[20] = 'A';
  EXPECT_FALSE(IsWellFormedKey(upper));  // uppercase hex
  std::string nonhex = good;
  nonhex[30] = 'g';
  EXPECT_FALSE(IsWellFormedKey(nonhex));
  std::string with_nul = good;
  with_nul[40] = '\0';
  EXPECT_FALSE(IsWellFormedKey(with_nul));
}

TEST(KeyFormatTest, HashIsBlake2b256AndKeyIdItsPrefix) {
  EXPECT_EQ(HashKeyHex(kFixedKey), kFixedHash);
  EXPECT_EQ(KeyIdOf(kFixedKey), std::string(kFixedHash).substr(0, 16));
  EXPECT_EQ(HashKeyRaw(kFixedKey).size(), 32u);
  EXPECT_NE(HashKeyHex(GenerateKey()), HashKeyHex(GenerateKey()));
}

TEST(KeyFormatTest, Roles) {
  for (Role r : {Role::kAdmin, Role::kWriteAgent, Role::kReadOnly}) {
    Result<Role> parsed = ParseRole(RoleName(r));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, r);
  }
  EXPECT_EQ(RoleName(Role::kWriteAgent), "write_agent");
  EXPECT_FALSE(ParseRole("Admin").has_value());
  EXPECT_FALSE(ParseRole("").has_value());
  EXPECT_FALSE(ParseRole("root").has_value());
}

TEST(KeyFormatTest, RateLimitSpecs) {
  Result<RateLimitSpec> spec = ParseRateLimit("200/s,400");
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->rate_per_second, 200);
  EXPECT_EQ(spec->burst, 400);
  EXPECT_EQ(spec->ToString(), "200/s,400");
  spec = ParseRateLimit("0.5/s,1");
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->rate_per_second, 0.5);
  EXPECT_EQ(spec->ToString(), "0.5/s,1");
  EXPECT_EQ(RateLimitSpec{}.ToString(),
            "200/s,400");  // the documented default, docs/configuration.md

  for (const char* bad :
       {"",        "200",     "200/s",   "200/s,",    "/s,400",  "200/m,400",      "-1/s,10",
        "0/s,10",  "5/s,0",   "5/s,0.5", "inf/s,1",   "nan/s,1", "1e3/s,10",       "+5/s,10",
        "5/s,10x", " 5/s,10", "5/s, 10", "1.2.3/s,4", "5./s,10", "99999999999/s,1"}) {
    EXPECT_FALSE(ParseRateLimit(bad).has_value()) << "accepted: '" << bad << "'";
  }
}

TEST(KeyFormatTest, LabelRules) {
  EXPECT_TRUE(IsValidLabel("ci deploy key (prod)"));
  EXPECT_FALSE(IsValidLabel(""));
  EXPECT_FALSE(IsValidLabel(std::string(129, 'a')));
  EXPECT_FALSE(IsValidLabel("a\nb"));
}

KeyRecord SampleRecord() {
  KeyRecord r;
  r.key_id = std::string(kFixedHash).substr(0, 16);
  r.hash_hex = kFixedHash;
  r.label = "ingest";
  r.role = Role::kWriteAgent;
  r.project = "demo";
  r.rate_limit = RateLimitSpec{5, 10};
  r.created_at_us = 1'700'000'000'000'000;
  r.expires_at_us = 1'800'000'000'500'000;
  return r;
}

TEST(KeyFormatTest, KeyRecordJsonShape) {
  KeyRecord r = SampleRecord();
  boost::json::object o = boost::json::parse(KeyRecordJson(r, r.created_at_us + 1)).as_object();
  EXPECT_EQ(o.at("key_id").as_string(), r.key_id);
  EXPECT_EQ(o.at("label").as_string(), "ingest");
  EXPECT_EQ(o.at("role").as_string(), "write_agent");
  EXPECT_EQ(o.at("project").as_string(), "demo");
  EXPECT_EQ(o.at("created_at").as_string(), "2023-11-14T22:13:20.000000Z");
  EXPECT_TRUE(o.at("last_used_at").is_null());
  EXPECT_EQ(o.at("expires_at").as_string(), "2027-01-15T08:00:00.500000Z");
  EXPECT_EQ(o.at("revoked").as_bool(), false);
  EXPECT_EQ(o.at("rate_limit").as_string(), "5/s,10");
  EXPECT_FALSE(o.contains("rotated_to"));
  EXPECT_FALSE(o.contains("hash")) << "the hash is not shown";

  r.revoked_at_us = r.created_at_us + 10;
  r.rotated_to = "00112233445566aa";
  r.rate_limit.reset();
  r.role = Role::kAdmin;
  r.project = "";
  o = boost::json::parse(KeyRecordJson(r, r.created_at_us + 5)).as_object();
  EXPECT_EQ(o.at("revoked").as_bool(), false) << "inside the rotation grace period";
  EXPECT_EQ(o.at("rotated_to").as_string(), "00112233445566aa");
  EXPECT_TRUE(o.at("rate_limit").is_null());
  EXPECT_TRUE(o.at("project").is_null());
  o = boost::json::parse(KeyRecordJson(r, r.created_at_us + 10)).as_object();
  EXPECT_EQ(o.at("revoked").as_bool(), true);
}

TEST(KeyFormatTest, StorageCodecRoundTrips) {
  KeyRecord r = SampleRecord();
  r.revoked_at_us = 77;
  r.rotated_to = "aabbccddeeff0011";
  r.is_root = true;
  Result<KeyRecord> back = DecodeKeyRecord(EncodeKeyRecord(r));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->key_id, r.key_id);
  EXPECT_EQ(back->hash_hex, r.hash_hex);
  EXPECT_EQ(back->label, r.label);
  EXPECT_EQ(back->role, r.role);
  EXPECT_EQ(back->project, r.project);
  ASSERT_TRUE(back->rate_limit.has_value());
  EXPECT_EQ(back->rate_limit->ToString(), "5/s,10");
  EXPECT_EQ(back->created_at_us, r.created_at_us);
  EXPECT_EQ(back->expires_at_us, r.expires_at_us);
  EXPECT_EQ(back->revoked_at_us, 77);
  EXPECT_EQ(back->rotated_to, r.rotated_to);
  EXPECT_TRUE(back->is_root);

  EXPECT_EQ(DecodeKeyRecord("{").error().code(), Status::Code::kCorruption);
  EXPECT_EQ(DecodeKeyRecord(R"({"v":2})").error().code(), Status::Code::kCorruption);
  std::string bad_hash = EncodeKeyRecord(r);
  bad_hash.replace(bad_hash.find(kFixedHash), 2, "zz");
  EXPECT_FALSE(DecodeKeyRecord(bad_hash).has_value());
}

}  // namespace
}  // namespace stemedb::auth
