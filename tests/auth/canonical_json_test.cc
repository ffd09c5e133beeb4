#include "auth/canonical_json.h"

#include <gtest/gtest.h>

#include <string>

namespace stemedb::auth {
namespace {

std::string Canon(std::string_view text) {
  Result<std::string> r = CanonicalizeJson(text);
  EXPECT_TRUE(r.has_value()) << text;
  return r ? *r : std::string();
}

std::string Num(double d) {
  std::string out;
  AppendCanonicalNumber(d, &out);
  return out;
}

TEST(CanonicalJsonTest, NumbersFollowEcmaScript) {
  // Expected strings are what JavaScript's String(x) prints (RFC 8785 §3.2.2.3).
  EXPECT_EQ(Num(0), "0");
  EXPECT_EQ(Num(-0.0), "0");
  EXPECT_EQ(Num(1), "1");
  EXPECT_EQ(Num(-1.5), "-1.5");
  EXPECT_EQ(Num(0.9), "0.9");
  EXPECT_EQ(Num(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(Num(123456789), "123456789");
  EXPECT_EQ(Num(1e20), "100000000000000000000");
  EXPECT_EQ(Num(1e21), "1e+21");
  EXPECT_EQ(Num(1.5e21), "1.5e+21");
  EXPECT_EQ(Num(0.000001), "0.000001");
  EXPECT_EQ(Num(0.0000001), "1e-7");
  EXPECT_EQ(Num(1.25e-7), "1.25e-7");
  EXPECT_EQ(Num(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(Num(5e-324), "5e-324");
  EXPECT_EQ(Num(1.7976931348623157e308), "1.7976931348623157e+308");
}

TEST(CanonicalJsonTest, ObjectsSortedCompactAndNested) {
  EXPECT_EQ(Canon(R"( { "b" : [1, 2.0, {"z":1,"a":null}], "a": true, "": "x" } )"),
            R"({"":"x","a":true,"b":[1,2,{"a":null,"z":1}]})");
  EXPECT_EQ(Canon("\"\\u00e9\\u2028/\""), "\"\xc3\xa9\xe2\x80\xa8/\"");
  EXPECT_EQ(Canon("\"\\u001f\\t\""), "\"\\u001f\\t\"");
  EXPECT_EQ(Canon("18446744073709551615"), "18446744073709552000");
  EXPECT_EQ(Canon("-9223372036854775808"), "-9223372036854776000");
}

TEST(CanonicalJsonTest, MembersSortByUtf16CodeUnits) {
  // U+FB01 (one UTF-16 unit 0xFB01) sorts after U+1F600 (surrogates 0xD83D..)
  // in UTF-16 order, although its UTF-8 bytes sort first.
  EXPECT_EQ(Canon("{\"\xef\xac\x81\":1,\"\xf0\x9f\x98\x80\":2}"),
            "{\"\xf0\x9f\x98\x80\":2,\"\xef\xac\x81\":1}");
}

TEST(CanonicalJsonTest, InvalidJsonIsRefused) {
  EXPECT_FALSE(CanonicalizeJson("{").has_value());
  EXPECT_FALSE(CanonicalizeJson("").has_value());
  EXPECT_FALSE(CanonicalizeJson("[1,]").has_value());
}

}  // namespace
}  // namespace stemedb::auth
