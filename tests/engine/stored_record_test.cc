#include "engine/stored_record.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace stemedb::engine {
namespace {

TEST(StoredRecordTest, AssertionRecordRoundTrip) {
  AssertionRecord r{"p", "s", "pred", "ag", "[1]", "{}", Lsn(9), 3, Lsn(12), "r1"};
  Result<AssertionRecord> d = DecodeAssertionRecord(EncodeAssertionRecord(r));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->project, "p");
  EXPECT_EQ(d->subject, "s");
  EXPECT_EQ(d->predicate, "pred");
  EXPECT_EQ(d->agent_id, "ag");
  EXPECT_EQ(d->value_json, "[1]");
  EXPECT_EQ(d->lsn, Lsn(9));
  EXPECT_EQ(d->ordinal, 3u);
  EXPECT_EQ(d->retracted_lsn, Lsn(12));
  EXPECT_EQ(d->retraction_id, "r1");
  const std::string enc = EncodeAssertionRecord(r);
  for (size_t n = 0; n < enc.size(); ++n) {
    EXPECT_FALSE(DecodeAssertionRecord(enc.substr(0, n))) << n;
  }
}

TEST(StoredRecordTest, RetractionAndIdempotencyRoundTrip) {
  RetractionRecord r{"p", "a1", Lsn(4), "{\"x\":1}"};
  Result<RetractionRecord> d = DecodeRetractionRecord(EncodeRetractionRecord(r));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->target_id, "a1");
  EXPECT_EQ(d->lsn, Lsn(4));
  EXPECT_EQ(d->json, "{\"x\":1}");

  IdempotencyRecord i{"hash", Lsn(5), 1700000000000001, {"a", "b"}};
  Result<IdempotencyRecord> di = DecodeIdempotencyRecord(EncodeIdempotencyRecord(i));
  ASSERT_TRUE(di);
  EXPECT_EQ(di->request_hash, "hash");
  EXPECT_EQ(di->lsn, Lsn(5));
  EXPECT_EQ(di->recorded_at_us, 1700000000000001);
  EXPECT_EQ(di->ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(DecodeIdempotencyRecord("\x01"));
}

TEST(StoredRecordTest, AssertionJsonIsValidAndComplete) {
  NewAssertion a;
  a.id = "abc";
  a.subject = "quote\" and \\ and \n and \x01";
  a.predicate = "p";
  a.agent_id = "agent";
  a.value_json = R"({"k":[1,2.5,"v"]})";
  a.confidence = 0.1;
  a.observed_at = "2026-01-01T00:00:00Z";
  a.is_signed = false;
  const std::string json = BuildAssertionJson("proj", a, Lsn(17), 1795384282123456);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  ASSERT_FALSE(ec) << json;
  const auto& o = v.as_object();
  EXPECT_EQ(o.at("id").as_string(), "abc");
  EXPECT_EQ(o.at("project").as_string(), "proj");
  EXPECT_EQ(o.at("subject").as_string(), a.subject);
  EXPECT_EQ(o.at("value").at("k").as_array().size(), 3u);
  EXPECT_EQ(o.at("confidence").as_double(), 0.1);
  EXPECT_EQ(o.at("observed_at").as_string(), "2026-01-01T00:00:00Z");
  EXPECT_FALSE(o.contains("signature"));
  EXPECT_EQ(o.at("signed").as_bool(), false);
  EXPECT_EQ(o.at("lsn").as_int64(), 17);
  EXPECT_EQ(o.at("recorded_at").as_string(), "2026-11-22T21:51:22.123456Z");

  const std::string r = BuildRetractionJson("proj", "r1", "abc", Lsn(18), 0);
  boost::json::value rv = boost::json::parse(r, ec);
  ASSERT_FALSE(ec) << r;
  EXPECT_EQ(rv.at("retracts").as_string(), "abc");
  EXPECT_EQ(rv.at("kind").as_string(), "retraction");
}

TEST(StoredRecordTest, ToStoredHonoursAsOf) {
  AssertionRecord r{"p", "s", "pred", "ag", "1", "{}", Lsn(3), 0, Lsn(10), "r"};
  StoredAssertion before = ToStored("id", AssertionRecordView::Of(r), Lsn(9));
  EXPECT_FALSE(before.retracted_lsn);
  StoredAssertion after = ToStored("id", AssertionRecordView::Of(r), Lsn(10));
  EXPECT_EQ(after.retracted_lsn, Lsn(10));
  EXPECT_EQ(after.retraction_id, "r");
  EXPECT_EQ(after.id, "id");
}

}  // namespace
}  // namespace stemedb::engine
