// Session: one HTTP/1.1 connection (plain TCP or TLS), in the shape of
// Beast's server examples but strand-free: a connection lives on one
// IoThread (api/io_thread.h), whose io_context is run by that thread alone,
// so its handlers never run concurrently. Other threads reach it only by
// posting (a reply from the engine's apply thread).
//
// LIFECYCLE OF ONE REQUEST
//   read and parse     the parser is fed from the connection's buffer; one
//                      read(2) usually brings header and body together.
//                      Deadline header_timeout until the header is complete
//                      (also the keep-alive idle limit), then body_timeout.
//     -> Content-Length above max_body_bytes: 413, close (body never read)
//     -> "Expect: 100-continue": answer 100 before reading the body
//     (parser.body_limit(max_body_bytes), so a chunked body is cut off as
//      soon as it grows too big)
//   Handler::Handle(request, meta, reply, stream)   (no deadline: the
//                      handler may wait for a WAL commit)
//   write reply        head and body in one writev(2), deadline body_timeout,
//                      then observer(CompletedRequest)
//   keep-alive ? next request (already buffered if pipelined) : close
//   (a parse error is answered after the requests before it, then closes)
//
// Deadlines are enforced by the IoThread's sweep (CheckDeadline), not by a
// timer per operation.
//
// PIPELINING. A client may send requests without waiting for replies. The
// session keeps a queue of the requests in flight (at most
// max_pipeline_depth) and always answers in request order, several ready
// replies in one writev(2). A request is handed to the handler while earlier
// ones are still in flight only if the handler classifies it and all of them
// alike (Handler::Classify: durable writes together, reads together); any
// other waits, parsed, until the queue is empty, so a read never overtakes
// an earlier write and an admin call sees everything before it. An interim
// 100 Continue also waits for the replies before it. While requests are in
// flight the connection is not idle: the header timeout runs again once
// their replies are written.
//
// Streaming replies (GET /v1/admin/backup) send the head with chunked
// transfer encoding, then run the producer on a thread owned by
// SessionShared::streams (api/stream_jobs.h); each write() blocks that thread
// until the chunk is on the socket (backpressure), and returns false if the
// client went away or the server is stopping.
//
// SHUTDOWN: IoThread::DrainAll() calls Drain() on every connection: an idle
// one (between requests) closes; one busy with requests reads no more,
// finishes those in flight, sends the last reply with "Connection: close"
// and closes. Server::Stop() then raises
// stopped(), which fails every producer's next write, and joins the
// producers before it stops the I/O threads.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "api/handler.h"
#include "api/stream_jobs.h"

namespace stemedb::api {

struct TransportOptions {
  uint64_t max_body_bytes = 1048576;
  uint32_t max_header_bytes = 16384;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  // Requests of one connection in flight at once (HTTP/1.1 pipelining);
  // 1 handles them strictly one after another. Default 16.
  size_t max_pipeline_depth = 16;
};

// What the transport knows about a request once its reply is written.
struct CompletedRequest {
  std::string_view method;
  unsigned status = 0;
  std::chrono::nanoseconds duration{0};
  uint64_t bytes_in = 0;   // header + body as read
  uint64_t bytes_out = 0;  // header + body as written
  const RequestMeta* meta = nullptr;
};
using RequestObserver = std::function<void(const CompletedRequest&)>;

class IoThread;

// A TCP socket bound to one io_context's executor (not the type-erased
// any_io_executor): every handler of a connection runs on its IoThread.
using Socket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// State shared by the Server and all its sessions. Thread-safe.
class SessionShared {
 public:
  TransportOptions options;
  RequestObserver observer;  // set before the first connection; may be empty
  // Called with the new count when a connection opens or closes.
  std::function<void(size_t)> on_connections;
  // The producer threads of streaming replies; the Server stops them.
  StreamJobs streams;

  // The installed handler, or nullptr. Lock-free (read on every request):
  // every handler ever installed is kept alive here until this object goes.
  Handler* handler() const { return handler_.load(std::memory_order_acquire); }
  void set_handler(std::shared_ptr<Handler> handler);

  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  bool stopped() const { return stopped_.load(); }
  void MarkDraining() { draining_.store(true); }
  void MarkStopped() { stopped_.store(true); }

  size_t connections() const { return connections_.load(); }
  size_t requests_in_flight() const { return in_flight_.load(); }

  // Used by Session.
  void ConnectionOpened();
  void ConnectionClosed();
  void RequestStarted() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void RequestFinished() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Handler>> installed_;  // guarded by mu_
  std::atomic<Handler*> handler_{nullptr};
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<size_t> connections_{0};
  std::atomic<size_t> in_flight_{0};
};

class Session {
 public:
  virtual ~Session() = default;
  // On the session's IoThread: registers with it and starts reading (after
  // the TLS handshake for TLS sessions).
  virtual void Run() = 0;
  // On the session's IoThread: closes the connection if it is idle, else
  // makes the current request its last.
  virtual void Drain() = 0;
  // On the session's IoThread: if the current phase's deadline has passed,
  // cancels the socket's operations (their handlers close the connection).
  virtual void CheckDeadline(std::chrono::steady_clock::time_point now) = 0;

  // `socket` must belong to `thread`'s io_context. Call Run() on that
  // thread (or post it there).
  static std::shared_ptr<Session> MakePlain(Socket socket, IoThread& thread,
                                            std::shared_ptr<SessionShared> shared);
  static std::shared_ptr<Session> MakeTls(Socket socket, IoThread& thread,
                                          boost::asio::ssl::context& tls,
                                          std::shared_ptr<SessionShared> shared);
};

}  // namespace stemedb::api
