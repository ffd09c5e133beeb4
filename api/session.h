// Session: one HTTP/1.1 connection (plain TCP or TLS), in the shape of
// Beast's advanced server: a strand per connection, do_X/on_X pairs, a new
// parser per request.
//
// LIFECYCLE OF ONE REQUEST
//   read header   (deadline header_timeout; also the keep-alive idle limit)
//     -> Content-Length above max_body_bytes: 413, close (body never read)
//     -> "Expect: 100-continue": answer 100 before reading the body
//   read body     (deadline body_timeout; parser.body_limit(max_body_bytes),
//                  so a chunked body is cut off as soon as it grows too big)
//   Handler::Handle(request, meta, reply, stream)   (no deadline: the
//                  handler may wait for a WAL commit)
//   write reply   (deadline body_timeout), observer(CompletedRequest)
//   keep-alive ? next request : close
//
// Requests on one connection are handled one at a time, in order: pipelined
// requests wait in the read buffer, so replies can never be reordered.
//
// Streaming replies (GET /v1/admin/backup) send the head with chunked
// transfer encoding, then run the producer on its own thread; each write()
// blocks that thread until the chunk is on the socket (backpressure), and
// returns false if the client went away or the server is stopping.
//
// SHUTDOWN: SessionShared::BeginDrain() closes every connection that is idle
// (between requests); a connection busy with a request finishes it, replies
// with "Connection: close" and closes.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "api/handler.h"

namespace stemedb::api {

struct TransportOptions {
  uint64_t max_body_bytes = 1048576;
  uint32_t max_header_bytes = 16384;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
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

class Session;

// State shared by the Server and all its sessions. Thread-safe.
class SessionShared {
 public:
  TransportOptions options;
  RequestObserver observer;  // set before the first connection; may be empty
  // Called with the new count when a connection opens or closes.
  std::function<void(size_t)> on_connections;

  std::shared_ptr<Handler> handler() const;
  void set_handler(std::shared_ptr<Handler> handler);

  bool draining() const { return draining_.load(); }
  bool stopped() const { return stopped_.load(); }
  // Marks draining and closes every idle connection.
  void BeginDrain();
  void MarkStopped() { stopped_.store(true); }

  size_t connections() const { return connections_.load(); }
  size_t requests_in_flight() const { return in_flight_.load(); }

  // Used by Session.
  void Register(const std::shared_ptr<Session>& session);
  void Unregister(Session* session);
  void RequestStarted() { in_flight_.fetch_add(1); }
  void RequestFinished() { in_flight_.fetch_sub(1); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<Handler> handler_;                               // guarded by mu_
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;  // guarded by mu_
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<size_t> connections_{0};
  std::atomic<size_t> in_flight_{0};
};

class Session {
 public:
  virtual ~Session() = default;
  // Starts reading (after the TLS handshake for TLS sessions).
  virtual void Run() = 0;
  // Thread-safe: closes the connection if it is idle, else makes the current
  // request its last.
  virtual void Drain() = 0;

  // The socket must come from an acceptor on a strand of the server's
  // io_context; the session runs on that strand.
  static std::shared_ptr<Session> MakePlain(boost::asio::ip::tcp::socket socket,
                                            std::shared_ptr<SessionShared> shared);
  static std::shared_ptr<Session> MakeTls(boost::asio::ip::tcp::socket socket,
                                          boost::asio::ssl::context& tls,
                                          std::shared_ptr<SessionShared> shared);
};

// {"error":{"code":...,"message":...}} with the given status; used for the
// errors only the transport can see (413 while reading, 400 unparsable, 500
// handler failure, 503 no handler).
Response TransportError(http::status status, std::string_view code, std::string_view message,
                        unsigned version, bool keep_alive);

}  // namespace stemedb::api
