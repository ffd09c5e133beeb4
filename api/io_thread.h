// IoThread: one event loop (an io_context run by exactly one thread) and the
// connections it serves.
//
// The Server runs one IoThread per core instead of one io_context shared by
// a pool of threads. A connection lives on one IoThread for its whole life,
// so its handlers never run concurrently without a strand, and the
// io_context (concurrency hint 1) never hands work between threads. Other
// threads (the engine's apply thread completing a write) reach a connection
// by posting to its IoThread's context.
//
// Timeouts are checked by a sweep, not by a timer per socket operation:
// every `sweep_interval` the thread looks at each connection's deadline
// (Session::CheckDeadline). Re-arming a timer on every read and write was a
// timer-queue update, and often a timerfd_settime(2), per operation; a
// deadline is now one store, and the precision is the sweep interval.
//
// THREAD-SAFETY: context(), Post() and DrainAll() may be called from any
// thread; Add/Remove only on this IoThread's own thread; Start/Stop by the
// owner (Server).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>

namespace stemedb::api {

class Session;

class IoThread {
 public:
  explicit IoThread(std::chrono::milliseconds sweep_interval);
  ~IoThread();  // Stop()s.

  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  boost::asio::io_context& context() { return ioc_; }

  // Starts the thread (and the sweep).
  void Start();
  // Stops the loop, joins the thread, then releases every connection still
  // registered (their sockets close). Idempotent.
  void Stop();

  // On this thread: registers a connection (kept alive until Remove) so the
  // sweep and drains reach it.
  void Add(std::shared_ptr<Session> session);
  // On this thread: forgets a connection; drops the registry's reference.
  void Remove(Session* session);

  // Any thread: asks every connection of this thread to drain
  // (Session::Drain: close if idle, else make the current request the last).
  void DrainAll();

  // Connections registered on this thread (read on this thread only).
  size_t size() const { return sessions_.size(); }

 private:
  void ScheduleSweep();
  void Sweep();

  const std::chrono::milliseconds sweep_interval_;
  boost::asio::io_context ioc_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  boost::asio::steady_timer sweep_timer_{ioc_};
  std::unordered_map<Session*, std::shared_ptr<Session>> sessions_;  // this thread only
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace stemedb::api
