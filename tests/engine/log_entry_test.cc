#include "engine/log_entry.h"

#include <gtest/gtest.h>

#include <random>

namespace stemedb::engine {
namespace {

NewAssertion MakeAssertion(std::string id) {
  NewAssertion a;
  a.id = std::move(id);
  a.subject = std::string("sub\0ject", 8);
  a.predicate = "color";
  a.agent_id = "agent-1";
  a.value_json = R"({"a":[1,2,"x"]})";
  a.confidence = 0.75;
  a.observed_at = "2026-11-22T10:00:00Z";
  a.signature = "c2lnbmF0dXJl";
  a.is_signed = true;
  return a;
}

WalEntry BatchEntry() {
  AssertBatchEntry b;
  b.project = "proj";
  b.assertions.push_back(MakeAssertion("a1"));
  NewAssertion plain;
  plain.id = "a2";
  plain.subject = "s";
  plain.predicate = "p";
  plain.agent_id = "g";
  plain.value_json = "null";
  b.assertions.push_back(plain);
  b.idempotency = IdempotencyToken{"key-1", "abcdef"};
  return WalEntry{1700000000123456, std::move(b)};
}

WalEntry RetractWalEntry() { return WalEntry{42, RetractEntry{"proj", "r1", "a1", std::nullopt}}; }

WalEntry SystemWalEntry() {
  SystemEntry s;
  s.writes.push_back({SystemTable::kApiKeys, "k1", std::string("value\0x", 7)});
  s.writes.push_back({SystemTable::kAudit, "k2", std::nullopt});
  return WalEntry{-5, std::move(s)};
}

TEST(LogEntryTest, AssertBatchRoundTrip) {
  const WalEntry in = BatchEntry();
  Result<WalEntry> out = DecodeWalEntry(EncodeWalEntry(in));
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->recorded_at_us, in.recorded_at_us);
  const auto& b = std::get<AssertBatchEntry>(out->entry);
  const auto& ib = std::get<AssertBatchEntry>(in.entry);
  EXPECT_EQ(b.project, "proj");
  ASSERT_TRUE(b.idempotency);
  EXPECT_EQ(b.idempotency->key, "key-1");
  EXPECT_EQ(b.idempotency->request_hash, "abcdef");
  ASSERT_EQ(b.assertions.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(b.assertions[i].id, ib.assertions[i].id);
    EXPECT_EQ(b.assertions[i].subject, ib.assertions[i].subject);
    EXPECT_EQ(b.assertions[i].predicate, ib.assertions[i].predicate);
    EXPECT_EQ(b.assertions[i].agent_id, ib.assertions[i].agent_id);
    EXPECT_EQ(b.assertions[i].value_json, ib.assertions[i].value_json);
    EXPECT_EQ(b.assertions[i].confidence, ib.assertions[i].confidence);
    EXPECT_EQ(b.assertions[i].observed_at, ib.assertions[i].observed_at);
    EXPECT_EQ(b.assertions[i].signature, ib.assertions[i].signature);
    EXPECT_EQ(b.assertions[i].is_signed, ib.assertions[i].is_signed);
  }
}

TEST(LogEntryTest, RetractRoundTrip) {
  Result<WalEntry> out = DecodeWalEntry(EncodeWalEntry(RetractWalEntry()));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->recorded_at_us, 42);
  const auto& r = std::get<RetractEntry>(out->entry);
  EXPECT_EQ(r.project, "proj");
  EXPECT_EQ(r.retraction_id, "r1");
  EXPECT_EQ(r.target_id, "a1");
  EXPECT_FALSE(r.idempotency);
}

TEST(LogEntryTest, SystemRoundTrip) {
  Result<WalEntry> out = DecodeWalEntry(EncodeWalEntry(SystemWalEntry()));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->recorded_at_us, -5);
  const auto& s = std::get<SystemEntry>(out->entry);
  ASSERT_EQ(s.writes.size(), 2u);
  EXPECT_EQ(s.writes[0].table, SystemTable::kApiKeys);
  EXPECT_EQ(s.writes[0].key, "k1");
  EXPECT_EQ(s.writes[0].value, std::string("value\0x", 7));
  EXPECT_EQ(s.writes[1].table, SystemTable::kAudit);
  EXPECT_FALSE(s.writes[1].value);
}

TEST(LogEntryTest, EmptyBatchRoundTrip) {
  Result<WalEntry> out = DecodeWalEntry(EncodeWalEntry(WalEntry{0, AssertBatchEntry{"p", {}, {}}}));
  ASSERT_TRUE(out);
  EXPECT_TRUE(std::get<AssertBatchEntry>(out->entry).assertions.empty());
}

WalEntry ImportWalEntry() {
  ImportEntry e;
  e.project = "proj";
  ImportedRecord a;
  a.recorded_at_us = 1600000000000001;
  a.assertion = MakeAssertion("a1");
  ImportedRecord r;
  r.recorded_at_us = 1600000000000002;
  r.is_retraction = true;
  r.retraction_id = "r1";
  r.target_id = "a1";
  e.records = {a, r};
  return WalEntry{7, std::move(e)};
}

TEST(LogEntryTest, ImportRoundTrip) {
  const WalEntry in = ImportWalEntry();
  const std::string encoded = EncodeWalEntry(in);
  EXPECT_EQ(encoded[1], 6) << "kind 6 (engine/FORMAT.md)";
  Result<WalEntry> out = DecodeWalEntry(encoded);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->recorded_at_us, 7);
  const auto& e = std::get<ImportEntry>(out->entry);
  EXPECT_EQ(e.project, "proj");
  ASSERT_EQ(e.records.size(), 2u);
  const ImportedRecord& a = e.records[0];
  EXPECT_FALSE(a.is_retraction);
  EXPECT_EQ(a.recorded_at_us, 1600000000000001);
  EXPECT_EQ(a.assertion.id, "a1");
  EXPECT_EQ(a.assertion.subject, std::string("sub\0ject", 8));
  EXPECT_EQ(a.assertion.value_json, R"({"a":[1,2,"x"]})");
  EXPECT_EQ(a.assertion.confidence, 0.75);
  EXPECT_EQ(a.assertion.observed_at, "2026-11-22T10:00:00Z");
  EXPECT_EQ(a.assertion.signature, "c2lnbmF0dXJl");
  EXPECT_TRUE(a.assertion.is_signed);
  const ImportedRecord& r = e.records[1];
  EXPECT_TRUE(r.is_retraction);
  EXPECT_EQ(r.recorded_at_us, 1600000000000002);
  EXPECT_EQ(r.retraction_id, "r1");
  EXPECT_EQ(r.target_id, "a1");

  for (size_t n = 0; n < encoded.size(); ++n) {
    ASSERT_FALSE(DecodeWalEntry(std::string_view(encoded).substr(0, n))) << "prefix " << n;
  }
  // The first record's type byte follows version, kind, time, project, count.
  std::string bad = encoded;
  const size_t type_at = 1 + 1 + 8 + 1 + 4 + 1;
  ASSERT_EQ(bad[type_at], 1);
  bad[type_at] = 3;
  EXPECT_TRUE(DecodeWalEntry(bad).error().IsCorruption()) << "unknown record type";
}

TEST(LogEntryTest, RejectsEmptyAndUnknownVersionAndKind) {
  EXPECT_TRUE(DecodeWalEntry("").error().IsCorruption());
  std::string s = EncodeWalEntry(RetractWalEntry());
  s[0] = 2;
  EXPECT_TRUE(DecodeWalEntry(s).error().IsCorruption());
  s = EncodeWalEntry(RetractWalEntry());
  s[1] = 9;
  EXPECT_TRUE(DecodeWalEntry(s).error().IsCorruption());
}

TEST(LogEntryTest, RejectsTrailingBytes) {
  std::string s = EncodeWalEntry(BatchEntry());
  s.push_back('x');
  EXPECT_TRUE(DecodeWalEntry(s).error().IsCorruption());
}

TEST(LogEntryTest, RejectsEveryTruncation) {
  for (const WalEntry& e : {BatchEntry(), RetractWalEntry(), SystemWalEntry()}) {
    const std::string s = EncodeWalEntry(e);
    for (size_t n = 0; n < s.size(); ++n) {
      Result<WalEntry> r = DecodeWalEntry(std::string_view(s).substr(0, n));
      ASSERT_FALSE(r) << "prefix " << n << " of " << s.size() << " accepted";
      EXPECT_TRUE(r.error().IsCorruption());
    }
  }
}

TEST(LogEntryTest, RejectsUnknownFlagsAndNonFiniteConfidence) {
  AssertBatchEntry b{"p", {MakeAssertion("x")}, {}};
  b.assertions[0].confidence.reset();
  b.assertions[0].is_signed = false;
  std::string s = EncodeWalEntry(WalEntry{0, b});
  // The flag byte follows the five strings; find it by re-encoding with a flag.
  b.assertions[0].is_signed = true;
  const std::string t = EncodeWalEntry(WalEntry{0, b});
  size_t pos = 0;
  while (s[pos] == t[pos]) ++pos;
  s[pos] = static_cast<char>(0x80);
  EXPECT_TRUE(DecodeWalEntry(s).error().IsCorruption());

  b.assertions[0].confidence = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(DecodeWalEntry(EncodeWalEntry(WalEntry{0, b})).error().IsCorruption());
}

TEST(LogEntryTest, RejectsHugeCountsWithoutAllocating) {
  std::string s;
  s.push_back(1);  // version
  s.push_back(3);  // system
  s.append(8, '\0');
  s.append("\xff\xff\xff\xff\xff\xff\xff\xff\x7f");  // count ~ 2^63
  EXPECT_TRUE(DecodeWalEntry(s).error().IsCorruption());
  s[1] = 1;  // batch: project "" then no token then count
  s.resize(10);
  s.push_back(0);
  s.push_back(0);
  s.append("\xff\xff\xff\xff\x0f");
  EXPECT_TRUE(DecodeWalEntry(s).error().IsCorruption());
}

TEST(LogEntryTest, RandomMutationsNeverCrash) {
  std::mt19937 rng(12345);
  const std::string base = EncodeWalEntry(BatchEntry());
  size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) s[rng() % s.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) s.resize(rng() % s.size());
    Result<WalEntry> r = DecodeWalEntry(s);
    if (r) {
      ++accepted;
      // Whatever decodes must re-encode to the same bytes (no lossy parse).
      EXPECT_EQ(EncodeWalEntry(*r), s);
    } else {
      EXPECT_TRUE(r.error().IsCorruption());
    }
  }
  EXPECT_LT(accepted, 20000u);
}

}  // namespace
}  // namespace stemedb::engine
