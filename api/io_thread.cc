#include "api/io_thread.h"

#include <boost/asio/post.hpp>
#include <vector>

#include "api/session.h"
#include "util/logging.h"
#include "util/thread_name.h"

namespace stemedb::api {

namespace net = boost::asio;

IoThread::IoThread(std::chrono::milliseconds sweep_interval)
    : sweep_interval_(std::max(sweep_interval, std::chrono::milliseconds(1))) {}

IoThread::~IoThread() { Stop(); }

void IoThread::Start() {
  work_.emplace(ioc_.get_executor());
  ScheduleSweep();
  thread_ = std::thread([this] {
    SetThreadName("stemedb-io");
    // An exception escaping a handler would otherwise end this thread and
    // strand its connections: log and go on.
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        log::Error("exception in I/O thread", {{"what", e.what()}});
      }
    }
  });
}

void IoThread::Stop() {
  if (stopped_) return;
  stopped_ = true;
  work_.reset();
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
  // The loop is gone: nothing else touches the registry now.
  sessions_.clear();
}

void IoThread::Add(std::shared_ptr<Session> session) {
  Session* key = session.get();
  sessions_.emplace(key, std::move(session));
}

void IoThread::Remove(Session* session) { sessions_.erase(session); }

void IoThread::DrainAll() {
  net::post(ioc_, [this] {
    // Drain may close a session, which removes it from the registry.
    std::vector<std::shared_ptr<Session>> live;
    live.reserve(sessions_.size());
    for (auto& [ptr, s] : sessions_) live.push_back(s);
    for (auto& s : live) s->Drain();
  });
}

void IoThread::ScheduleSweep() {
  sweep_timer_.expires_after(sweep_interval_);
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // stopped
    Sweep();
    ScheduleSweep();
  });
}

void IoThread::Sweep() {
  const auto now = std::chrono::steady_clock::now();
  // CheckDeadline only cancels socket operations; their handlers (which may
  // Remove) run later, so iterating the registry here is safe.
  for (auto& [ptr, s] : sessions_) ptr->CheckDeadline(now);
}

}  // namespace stemedb::api
