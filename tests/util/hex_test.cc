#include "util/hex.h"

#include <gtest/gtest.h>

namespace stemedb {
namespace {

TEST(Hex64Test, ParsesExactlySixteenLowercaseDigits) {
  uint64_t v = 7;
  ASSERT_TRUE(ParseHex64("0000000000000000", &v));
  EXPECT_EQ(v, 0u);
  ASSERT_TRUE(ParseHex64("00000000000004d3", &v));
  EXPECT_EQ(v, 0x4d3u);
  ASSERT_TRUE(ParseHex64("ffffffffffffffff", &v));
  EXPECT_EQ(v, UINT64_MAX);
}

TEST(Hex64Test, RefusesEverythingButTheCanonicalForm) {
  uint64_t v = 7;
  for (const char* bad : {"", "0", "00000000000004d", "00000000000004d30", "00000000000004D3",
                          "0x000000000004d3", "00000000000004g3", " 0000000000004d3"}) {
    EXPECT_FALSE(ParseHex64(bad, &v)) << "'" << bad << "'";
  }
  EXPECT_EQ(v, 7u) << "a refused text leaves the output alone";
}

}  // namespace
}  // namespace stemedb
