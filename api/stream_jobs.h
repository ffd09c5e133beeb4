// StreamJobs: the threads that run the producers of streaming replies
// (GET /v1/admin/backup, api/handler.h StreamingReply), and their owner.
//
// A producer blocks on disk and on a slow client's socket, so it runs on a
// thread of its own rather than on an I/O thread; and it uses the session,
// the router and the database, so that thread must end before any of them is
// destroyed. The Server owns one StreamJobs (in SessionShared) and calls
// Stop() while shutting down, after raising SessionShared::stopped() and
// before its I/O threads stop; the App closes the database only after
// Server::Shutdown returned, so no producer outlives what it reads.
//
// Cancelling is cooperative: once the server is stopping, the transport's
// write() returns false (and so does it once the client went away), and a
// producer stops at its next write. What it does between two writes (a
// RocksDB checkpoint, reading one file) is bounded by the disk, so Stop()
// waits for that.
//
// Thread-safety: every method may be called from any thread, except that
// Stop() must not be called from a job (it would join itself).
#pragma once

#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace stemedb::api {

class StreamJobs {
 public:
  StreamJobs() = default;
  ~StreamJobs();  // Stop()s.

  StreamJobs(const StreamJobs&) = delete;
  StreamJobs& operator=(const StreamJobs&) = delete;

  // Runs `job` on a new thread and returns true; after Stop(), or if no
  // thread can be created, runs nothing and returns false (`job` is then
  // destroyed on the caller's thread). The thread releases what `job` holds
  // before it ends.
  bool Start(std::function<void()> job);

  // Refuses new jobs, then waits for every running one and joins its thread.
  // Idempotent.
  void Stop();

  // Jobs started and not yet joined (finished ones are joined by the next
  // Start or by Stop).
  size_t size() const;

 private:
  struct Job {
    std::thread thread;
    bool done = false;  // guarded by mu_; set as the thread's last step
  };

  // Joins the jobs that are done. Requires mu_.
  void ReapLocked();

  mutable std::mutex mu_;
  std::list<Job> jobs_;   // guarded by mu_; list: a thread keeps a pointer to its Job
  bool stopped_ = false;  // guarded by mu_
};

}  // namespace stemedb::api
