#include "util/time_format.h"

#include <gtest/gtest.h>

namespace stemedb {
namespace {

TEST(TimeFormatTest, ParsesUtcWithoutFraction) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseRfc3339("2026-11-22T15:38:22Z"), int64_t{1795361902} * 1000000);
}

TEST(TimeFormatTest, ParsesFractionTruncatedToMicros) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:01.5Z"), 1500000);
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00.123456789Z"), 123456);
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00.000001Z"), 1);
}

TEST(TimeFormatTest, AppliesOffsets) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T02:00:00+02:00"), 0);
  EXPECT_EQ(ParseRfc3339("1969-12-31T19:30:00-04:30"), 0);
  EXPECT_EQ(ParseRfc3339("1970-01-01t00:00:00z"), 0);
  EXPECT_EQ(ParseRfc3339("1970-01-01 00:00:00Z"), 0);
}

TEST(TimeFormatTest, HandlesLeapYearsAndPreEpoch) {
  EXPECT_TRUE(ParseRfc3339("2024-02-29T00:00:00Z"));
  EXPECT_TRUE(ParseRfc3339("2000-02-29T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("2023-02-29T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("1900-02-29T00:00:00Z"));
  EXPECT_EQ(ParseRfc3339("1969-12-31T23:59:59.999999Z"), -1);
}

TEST(TimeFormatTest, RejectsMalformed) {
  for (const char* bad :
       {"", "2026-11-22", "2026-11-22T15:38:22", "2026-13-01T00:00:00Z", "2026-11-31T00:00:00Z",
        "2026-11-22T24:00:00Z", "2026-11-22T23:60:00Z", "2026-11-22T23:00:61Z",
        "2026-11-22T23:00:00.Z", "2026-11-22T23:00:00+2:00", "2026-11-22T23:00:00+24:00",
        "2026-11-22T23:00:00Zjunk", "26-11-22T23:00:00Z", "2026/11/22T23:00:00Z",
        "2026-11-22T23:00:00+0200", "x026-11-22T23:00:00Z", "9999-12-31T23:59:59-01:00"}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << bad;
  }
}

TEST(TimeFormatTest, LeapSecondCountsAsNextSecond) {
  EXPECT_EQ(ParseRfc3339("2016-12-31T23:59:60Z"), ParseRfc3339("2017-01-01T00:00:00Z"));
}

TEST(TimeFormatTest, FormatsUtcWithMicros) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339(int64_t{1795361902} * 1000000 + 123456), "2026-11-22T15:38:22.123456Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999999Z");
}

TEST(TimeFormatTest, AppendsToWhatIsThere) {
  std::string out = "at ";
  AppendRfc3339(&out, 1795384282123456);
  EXPECT_EQ(out, "at 2026-11-22T21:51:22.123456Z");
  out.clear();
  AppendRfc3339(&out, -62167219200000000);  // the first instant of year 0000
  EXPECT_EQ(out, "0000-01-01T00:00:00.000000Z");
  out.clear();
  AppendRfc3339(&out, 253402300799999999);
  EXPECT_EQ(out, "9999-12-31T23:59:59.999999Z");
}

TEST(TimeFormatTest, RoundTrips) {
  for (int64_t us : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{951782400000000},
                     int64_t{1795361902123456}, int64_t{253402300799999999}}) {
    EXPECT_EQ(ParseRfc3339(FormatRfc3339(us)), us) << us;
  }
}

}  // namespace
}  // namespace stemedb
