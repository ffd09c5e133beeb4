#include "engine/keys.h"

#include <gtest/gtest.h>

namespace stemedb::engine {
namespace {

TEST(KeysTest, ComponentOrderMatchesTupleOrder) {
  // "a" < "a\0" < "a\0b" < "ab" < "b" as tuples; keys must sort the same way.
  const std::vector<std::string> strings = {"a", std::string("a\0", 2), std::string("a\0b", 3),
                                            "ab", "b"};
  std::vector<std::string> keys;
  for (const auto& s : strings) {
    std::string k;
    AppendComponent(&k, s);
    AppendComponent(&k, "z");
    keys.push_back(k);
  }
  for (size_t i = 1; i < keys.size(); ++i) EXPECT_LT(keys[i - 1], keys[i]) << i;
}

TEST(KeysTest, IndexKeyParsesBack) {
  const std::string k = IndexKey(IndexId::kPredicate, "proj", std::string("s\0x", 3), "p", "ag",
                                 Lsn(0x0102030405060708), 7, "id123");
  ParsedIndexKey p;
  ASSERT_TRUE(ParseIndexKey(k, &p));
  EXPECT_EQ(p.lsn, Lsn(0x0102030405060708));
  EXPECT_EQ(p.ordinal, 7u);
  EXPECT_EQ(p.id, "id123");
  EXPECT_EQ(p.group, IndexGroupKey(IndexId::kPredicate, "proj", std::string("s\0x", 3), "p", "ag"));
}

TEST(KeysTest, VersionsOfAGroupSortByLsnThenOrdinal) {
  auto key = [](uint64_t lsn, uint32_t ord) {
    return IndexKey(IndexId::kSubject, "p", "s", "pred", "a", Lsn(lsn), ord, "zz");
  };
  EXPECT_LT(key(1, 5), key(2, 0));
  EXPECT_LT(key(2, 0), key(2, 1));
  EXPECT_LT(key(255, 0), key(256, 0));
}

TEST(KeysTest, PrefixEndBoundsOnlyThatPrefix) {
  std::string prefix;
  AppendComponent(&prefix, "proj");
  AppendComponent(&prefix, "subj");
  const std::string end = ComponentPrefixEnd(prefix);
  const std::string inside = IndexKey(IndexId::kSubject, "proj", "subj", "p", "a", Lsn(9), 0, "x");
  const std::string longer_subject =
      IndexKey(IndexId::kSubject, "proj", "subj2", "p", "a", Lsn(1), 0, "x");
  const std::string nul_subject =
      IndexKey(IndexId::kSubject, "proj", std::string("subj\0", 5), "p", "a", Lsn(1), 0, "x");
  EXPECT_GE(inside, prefix);
  EXPECT_LT(inside, end);
  EXPECT_GE(longer_subject, end);
  EXPECT_GE(nul_subject, end);
}

TEST(KeysTest, RejectsMalformedIndexKeys) {
  ParsedIndexKey p;
  EXPECT_FALSE(ParseIndexKey("", &p));
  EXPECT_FALSE(ParseIndexKey(std::string("a\0\x01", 3), &p));
  std::string k = IndexGroupKey(IndexId::kSubject, "p", "s", "q", "a");
  EXPECT_FALSE(ParseIndexKey(k, &p));  // no lsn/ordinal
  k.append(11, '\0');
  EXPECT_FALSE(ParseIndexKey(k, &p));
  k.push_back('\0');
  EXPECT_TRUE(ParseIndexKey(k, &p));
  EXPECT_FALSE(ParseIndexKey(std::string("a\0\x05", 3), &p));  // bad escape
}

TEST(KeysTest, TimeKeyOrderAndParse) {
  EXPECT_LT(TimeKey(100, Lsn(9)), TimeKey(101, Lsn(1)));
  EXPECT_LT(TimeKey(100, Lsn(1)), TimeKey(100, Lsn(2)));
  int64_t t = 0;
  Lsn lsn;
  ASSERT_TRUE(ParseTimeKey(TimeKey(123456, Lsn(77)), &t, &lsn));
  EXPECT_EQ(t, 123456);
  EXPECT_EQ(lsn, Lsn(77));
  EXPECT_FALSE(ParseTimeKey("short", &t, &lsn));
}

TEST(KeysTest, IdempotencyKeysDoNotCollideAcrossProjects) {
  EXPECT_NE(IdempotencyKey("ab", "c"), IdempotencyKey("a", "bc"));
  EXPECT_NE(IdempotencyKey(std::string("a\0", 2), "b"), IdempotencyKey("a", std::string("\0b", 2)));
}

TEST(KeysTest, CursorRoundTrip) {
  QueryCursor c{Lsn(12345), IndexId::kAgent, true, std::string("key\0with\xffstuff", 15)};
  const std::string text = EncodeCursor(c);
  EXPECT_EQ(
      text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos);
  Result<QueryCursor> d = DecodeCursor(text);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->as_of, c.as_of);
  EXPECT_EQ(d->index, c.index);
  EXPECT_EQ(d->history, c.history);
  EXPECT_EQ(d->last_key, c.last_key);
}

TEST(KeysTest, CursorRejectsGarbage) {
  EXPECT_EQ(DecodeCursor("").error().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(DecodeCursor("!!!").error().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(DecodeCursor("AAAA").error().code(), Status::Code::kInvalidArgument);
  std::string text = EncodeCursor({Lsn(1), IndexId::kSubject, false, "k"});
  for (size_t n = 0; n < text.size(); ++n) {
    EXPECT_FALSE(DecodeCursor(text.substr(0, n))) << n;
  }
}

}  // namespace
}  // namespace stemedb::engine
