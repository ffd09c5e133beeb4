#include "auth/usage_meter.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>
#include <vector>

#include "tests/auth/temp_database.h"

namespace stemedb::auth {
namespace {

using testing::kSecond;
using testing::kT0;
using testing::TempDatabase;

// A known workload: key a (project p1) 3 requests, 5 assertions, 1 refusal;
// key b (p1) 2 requests; key c (p2) 1 request; admin key (no project) 1.
void Workload(UsageMeter* m) {
  m->RecordRequest("aaaaaaaaaaaaaaaa", "p1", 100, 1000, kT0 + 1 * kSecond);
  m->RecordRequest("aaaaaaaaaaaaaaaa", "p1", 200, 2000, kT0 + 3 * kSecond);
  m->RecordRequest("aaaaaaaaaaaaaaaa", "p1", 300, 3000, kT0 + 2 * kSecond);  // out of order
  m->RecordAssertions("aaaaaaaaaaaaaaaa", "p1", 5);
  m->RecordRateLimited("aaaaaaaaaaaaaaaa", "p1");
  m->RecordRequest("bbbbbbbbbbbbbbbb", "p1", 10, 20, kT0 + 4 * kSecond);
  m->RecordRequest("bbbbbbbbbbbbbbbb", "p1", 10, 20, kT0 + 5 * kSecond);
  m->RecordRequest("cccccccccccccccc", "p2", 1, 2, kT0 + 6 * kSecond);
  m->RecordRequest("dddddddddddddddd", "", 7, 8, kT0 + 7 * kSecond);
}

void ExpectWorkload(const UsageMeter& m) {
  std::optional<UsageCounters> a = m.ForKey("aaaaaaaaaaaaaaaa");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->project, "p1");
  EXPECT_EQ(a->requests, 3u);
  EXPECT_EQ(a->assertions_written, 5u);
  EXPECT_EQ(a->bytes_in, 600u);
  EXPECT_EQ(a->bytes_out, 6000u);
  EXPECT_EQ(a->rate_limited, 1u);
  EXPECT_EQ(a->last_used_at_us, kT0 + 3 * kSecond);
  EXPECT_EQ(m.AllKeys().size(), 4u);

  std::vector<UsageCounters> projects = m.ByProject(std::nullopt);
  ASSERT_EQ(projects.size(), 2u) << "admin usage is not a project";
  EXPECT_EQ(projects[0].project, "p1");
  EXPECT_EQ(projects[0].key_id, "");
  EXPECT_EQ(projects[0].requests, 5u);
  EXPECT_EQ(projects[0].assertions_written, 5u);
  EXPECT_EQ(projects[0].bytes_in, 620u);
  EXPECT_EQ(projects[0].bytes_out, 6040u);
  EXPECT_EQ(projects[0].rate_limited, 1u);
  EXPECT_EQ(projects[0].last_used_at_us, kT0 + 5 * kSecond);
  EXPECT_EQ(projects[1].project, "p2");
  EXPECT_EQ(projects[1].requests, 1u);
  std::vector<UsageCounters> only = m.ByProject("p2");
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].bytes_out, 2u);
  EXPECT_TRUE(m.ByProject("nope").empty());
}

TEST(UsageMeterTest, CountersAreExactAndSurviveFlushAndReopen) {
  TempDatabase db;
  ASSERT_NO_FATAL_FAILURE(db.Open());
  {
    UsageMeter meter(db.get(), true);
    ASSERT_TRUE(meter.Load().ok());
    EXPECT_TRUE(meter.enabled());
    EXPECT_FALSE(meter.ForKey("aaaaaaaaaaaaaaaa").has_value());
    Workload(&meter);
    ASSERT_NO_FATAL_FAILURE(ExpectWorkload(meter));
    ASSERT_TRUE(meter.Flush().ok());
    ASSERT_TRUE(meter.Flush().ok());  // nothing changed: nothing written
  }
  db.Reopen();
  UsageMeter meter(db.get(), true);
  ASSERT_TRUE(meter.Load().ok());
  ASSERT_NO_FATAL_FAILURE(ExpectWorkload(meter));
  // Counting continues from the restored values.
  meter.RecordRequest("cccccccccccccccc", "p2", 1, 1, kT0 + 9 * kSecond);
  EXPECT_EQ(meter.ForKey("cccccccccccccccc")->requests, 2u);
  ASSERT_TRUE(meter.Flush().ok());
  db.Reopen();
  UsageMeter again(db.get(), true);
  ASSERT_TRUE(again.Load().ok());
  EXPECT_EQ(again.ForKey("cccccccccccccccc")->requests, 2u);
  EXPECT_EQ(again.ForKey("cccccccccccccccc")->last_used_at_us, kT0 + 9 * kSecond);
  EXPECT_EQ(again.ForKey("aaaaaaaaaaaaaaaa")->requests, 3u);
}

TEST(UsageMeterTest, UnflushedCountsAreLostButFlushedOnesAreNot) {
  TempDatabase db;
  ASSERT_NO_FATAL_FAILURE(db.Open());
  {
    UsageMeter meter(db.get(), true);
    ASSERT_TRUE(meter.Load().ok());
    meter.RecordRequest("aaaaaaaaaaaaaaaa", "p1", 1, 1, kT0);
    ASSERT_TRUE(meter.Flush().ok());
    meter.RecordRequest("aaaaaaaaaaaaaaaa", "p1", 1, 1, kT0 + kSecond);  // never flushed
  }
  db.Reopen();
  UsageMeter meter(db.get(), true);
  ASSERT_TRUE(meter.Load().ok());
  EXPECT_EQ(meter.ForKey("aaaaaaaaaaaaaaaa")->requests, 1u);
}

TEST(UsageMeterTest, ConcurrentCountingIsExact) {
  TempDatabase db;
  ASSERT_NO_FATAL_FAILURE(db.Open());
  UsageMeter meter(db.get(), true);
  ASSERT_TRUE(meter.Load().ok());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&meter, t] {
      const std::string own = "own" + std::to_string(t) + "aaaaaaaaaaaa";
      for (int i = 0; i < kPerThread; ++i) {
        meter.RecordRequest("sharedaaaaaaaaaa", "p", 2, 3, kT0 + i);
        meter.RecordAssertions(own, "p", 1);
      }
    });
  }
  // Flushes racing with the counting must not lose or double anything.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(meter.Flush().ok());
  for (auto& th : threads) th.join();
  ASSERT_TRUE(meter.Flush().ok());
  EXPECT_EQ(meter.ForKey("sharedaaaaaaaaaa")->requests, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(meter.ForKey("sharedaaaaaaaaaa")->bytes_in, uint64_t{2 * kThreads * kPerThread});
  EXPECT_EQ(meter.ByProject("p")[0].assertions_written, uint64_t{kThreads * kPerThread});
  db.Reopen();
  UsageMeter reloaded(db.get(), true);
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.ForKey("sharedaaaaaaaaaa")->requests, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(reloaded.ByProject("p")[0].assertions_written, uint64_t{kThreads * kPerThread});
}

TEST(UsageMeterTest, DisabledMeterCountsNothing) {
  TempDatabase db;
  ASSERT_NO_FATAL_FAILURE(db.Open());
  UsageMeter meter(db.get(), false);
  ASSERT_TRUE(meter.Load().ok());
  EXPECT_FALSE(meter.enabled());
  Workload(&meter);
  EXPECT_TRUE(meter.AllKeys().empty());
  EXPECT_TRUE(meter.Flush().ok());
}

TEST(UsageMeterTest, UsageJsonShape) {
  UsageCounters c;
  c.key_id = "aaaaaaaaaaaaaaaa";
  c.project = "p1";
  c.requests = 3;
  c.assertions_written = 5;
  c.bytes_in = 600;
  c.bytes_out = 6000;
  c.rate_limited = 1;
  boost::json::object o = boost::json::parse(UsageJson(c)).as_object();
  EXPECT_EQ(o.size(), 8u);
  EXPECT_EQ(o.at("key_id").as_string(), "aaaaaaaaaaaaaaaa");
  EXPECT_EQ(o.at("project").as_string(), "p1");
  EXPECT_EQ(o.at("requests").to_number<uint64_t>(), 3u);
  EXPECT_EQ(o.at("assertions_written").to_number<uint64_t>(), 5u);
  EXPECT_EQ(o.at("bytes_in").to_number<uint64_t>(), 600u);
  EXPECT_EQ(o.at("bytes_out").to_number<uint64_t>(), 6000u);
  EXPECT_EQ(o.at("rate_limited").to_number<uint64_t>(), 1u);
  EXPECT_TRUE(o.at("last_used_at").is_null());
  c.last_used_at_us = kT0;
  c.key_id = "";
  o = boost::json::parse(UsageJson(c)).as_object();
  EXPECT_EQ(o.at("last_used_at").as_string(), "2027-01-15T08:00:00.000000Z");
  EXPECT_FALSE(o.contains("key_id")) << "project sums have no key";
}

}  // namespace
}  // namespace stemedb::auth
