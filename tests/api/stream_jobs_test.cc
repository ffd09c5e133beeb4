// StreamJobs (api/stream_jobs.h): Stop() waits for running jobs and joins
// them, refuses jobs after it, and finished jobs are joined without a Stop.
#include "api/stream_jobs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

namespace stemedb::api {
namespace {

TEST(StreamJobsTest, StopWaitsForRunningJobsAndReleasesWhatTheyHold) {
  StreamJobs jobs;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> finished{0};
  auto held = std::make_shared<int>(7);
  std::weak_ptr<int> watch = held;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(jobs.Start([released, &finished, held] {
      released.wait();
      finished.fetch_add(1);
    }));
  }
  held.reset();
  EXPECT_EQ(jobs.size(), 3u);

  std::thread stopper([&] { jobs.Stop(); });
  release.set_value();
  stopper.join();
  // Stop returned: every job ran to its end and its captures are gone.
  EXPECT_EQ(finished.load(), 3);
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(jobs.size(), 0u);
}

TEST(StreamJobsTest, RefusesJobsAfterStop) {
  StreamJobs jobs;
  jobs.Stop();
  bool ran = false;
  auto held = std::make_shared<int>(1);
  std::weak_ptr<int> watch = held;
  EXPECT_FALSE(jobs.Start([&ran, held] { ran = true; }));
  held.reset();
  EXPECT_FALSE(ran);
  EXPECT_TRUE(watch.expired());  // the refused job was destroyed, not kept
  jobs.Stop();                   // idempotent
}

TEST(StreamJobsTest, FinishedJobsAreJoinedWithoutAStop) {
  StreamJobs jobs;
  constexpr int kJobs = 200;
  for (int i = 0; i < kJobs; ++i) {
    std::promise<void> done;
    ASSERT_TRUE(jobs.Start([&done] { done.set_value(); }));
    done.get_future().wait();
  }
  // Each Start joins the jobs already done: a long-lived server does not
  // pile up one finished thread per backup. (A job may still be between its
  // last step and marking itself done, hence no exact count.)
  EXPECT_LT(jobs.size(), static_cast<size_t>(kJobs / 2));
  jobs.Stop();
  EXPECT_EQ(jobs.size(), 0u);
}

}  // namespace
}  // namespace stemedb::api
