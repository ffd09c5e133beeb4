#include "api/stream_jobs.h"

#include <system_error>

#include "util/thread_name.h"

namespace stemedb::api {

StreamJobs::~StreamJobs() { Stop(); }

bool StreamJobs::Start(std::function<void()> job) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return false;
  ReapLocked();
  Job& slot = jobs_.emplace_back();
  try {
    slot.thread = std::thread([this, &slot, job = std::move(job)]() mutable {
      SetThreadName("stemedb-stream");
      job();
      job = nullptr;  // release the session (and what it holds) before joining
      std::lock_guard<std::mutex> done_lock(mu_);
      slot.done = true;
    });
  } catch (const std::system_error&) {
    jobs_.pop_back();  // no thread (EAGAIN): the caller fails the reply
    return false;
  }
  return true;
}

void StreamJobs::Stop() {
  std::list<Job> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    running.splice(running.end(), jobs_);
  }
  // Joined without mu_: a finishing job takes it to mark itself done. The
  // nodes moved here keep their addresses, which the threads still use.
  for (Job& j : running) {
    if (j.thread.joinable()) j.thread.join();
  }
}

size_t StreamJobs::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

void StreamJobs::ReapLocked() {
  // A done job's thread only has to return: joining it under mu_ is quick
  // and cannot deadlock (it no longer takes mu_).
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->done) {
      it->thread.join();
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace stemedb::api
