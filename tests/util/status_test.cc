#include "util/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace stemedb {
namespace {

TEST(StatusTest, OkIsDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ("OK", s.ToString());
}

TEST(StatusTest, ContextIsPrefixed) {
  Status s = Status::Corruption("crc mismatch").WithContext("wal/1.wal offset 17");
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ("Corruption: wal/1.wal offset 17: crc mismatch", s.ToString());
}

TEST(StatusTest, EnospcMapsToNoSpace) {
  EXPECT_TRUE(Status::FromErrno("write", ENOSPC).IsNoSpace());
  EXPECT_EQ(Status::Code::kIOError, Status::FromErrno("fsync", EIO).code());
}

TEST(StatusTest, ResultCarriesValueOrError) {
  Result<int> good = 3;
  Result<int> bad = Status::NotFound("x");
  ASSERT_TRUE(good);
  EXPECT_EQ(3, *good);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().IsNotFound());
}

}  // namespace
}  // namespace stemedb
