#include "util/json_string.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>

namespace stemedb {
namespace {

std::string Quoted(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

// The contract: byte for byte what Boost.JSON's serializer writes, so stored
// JSON built by hand and JSON built by Boost never differ.
TEST(JsonStringTest, MatchesBoostJsonForEveryAsciiByte) {
  for (int c = 0; c < 0x80; ++c) {
    const std::string s = "a" + std::string(1, static_cast<char>(c)) + "b";
    EXPECT_EQ(Quoted(s), boost::json::serialize(boost::json::string_view(s))) << "byte " << c;
  }
}

TEST(JsonStringTest, EscapesOnlyWhatJsonRequires) {
  EXPECT_EQ(Quoted(""), R"("")");
  EXPECT_EQ(Quoted("plain / text"), R"("plain / text")");
  EXPECT_EQ(Quoted("q\"b\\n\n\x01\x1f"), R"("q\"b\\n\n\u0001\u001f")");
  EXPECT_EQ(Quoted("\b\t\f\r"), R"("\b\t\f\r")");
  EXPECT_EQ(Quoted("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"");  // UTF-8 copied
  EXPECT_EQ(Quoted(std::string_view("nul\0x", 5)), R"("nul\u0000x")");
}

TEST(JsonStringTest, AppendsToWhatIsThere) {
  std::string out = "{\"k\":";
  AppendJsonString(&out, "v");
  EXPECT_EQ(out, R"({"k":"v")");
}

}  // namespace
}  // namespace stemedb
