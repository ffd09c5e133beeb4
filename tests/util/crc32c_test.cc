#include "util/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace stemedb::crc32c {
namespace {

// RFC 3720 §B.4 known answers.
TEST(Crc32cTest, Rfc3720Vectors) {
  std::string buf(32, '\0');
  EXPECT_EQ(0x8a9136aau, Value(buf));
  buf.assign(32, '\xff');
  EXPECT_EQ(0x62a8ab43u, Value(buf));
  for (int i = 0; i < 32; i++) buf[i] = static_cast<char>(i);
  EXPECT_EQ(0x46dd794eu, Value(buf));
  for (int i = 0; i < 32; i++) buf[i] = static_cast<char>(31 - i);
  EXPECT_EQ(0x113fdb5cu, Value(buf));
  EXPECT_EQ(0xe3069283u, Value("123456789"));
}

TEST(Crc32cTest, ExtendEqualsOneShot) {
  std::string a = "hello ", b = "world";
  EXPECT_EQ(Value(a + b), Extend(Value(a), b.data(), b.size()));
  EXPECT_EQ(Value(""), 0u);
}

TEST(Crc32cTest, MaskRoundTripsAndDiffers) {
  uint32_t crc = Value("foo");
  EXPECT_NE(crc, Mask(crc));
  EXPECT_NE(crc, Mask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Unmask(Mask(Mask(crc)))));
}

}  // namespace
}  // namespace stemedb::crc32c
