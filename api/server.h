// Server: the listening socket and the I/O threads (api/io_thread.h), each
// an event loop of its own serving the sessions (api/session.h) it was
// handed; the acceptor deals new connections out round-robin. It knows nothing about routes: every
// request goes to the installed Handler (api/handler.h), which can be swapped at run time; the App
// installs a small boot handler first (so health answers during WAL replay) and the router once the
// store is open.
//
// LIFECYCLE
//   Listen()  binds and listens (and loads the TLS certificate); call it
//             before the WAL replay so probes get answers while it runs.
//   Start()   starts the I/O threads and the accept loop.
//   Shutdown(drain_timeout)
//             graceful: closes the acceptor, closes idle connections, lets
//             requests in flight finish (their replies carry
//             "Connection: close"), waits until none remain or the timeout
//             passes, then stops. Returns whether everything drained.
//   Stop()    hard stop: cancels the producers of streaming replies and
//             joins their threads (api/stream_jobs.h), then stops the I/O
//             threads and joins them. Once it returns, no thread started by
//             the Server is left.
//
// Connections beyond max_connections are accepted and closed at once, so
// a flood costs one accept each and never queues up in the kernel backlog.
//
// Thread-safety: Listen/Start/Shutdown/Stop are called by the owner only;
// set_handler, port, connections may be called from any thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/handler.h"
#include "api/io_thread.h"
#include "api/session.h"
#include "util/status.h"

namespace stemedb::api {

class Metrics;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 = any free port; see port()
  size_t io_threads = 2;
  size_t max_connections = 1024;
  TransportOptions transport;
  std::string tls_cert_path;  // both set: TLS on every connection
  std::string tls_key_path;
};

class Server {
 public:
  // `metrics` may be nullptr; it must outlive the server.
  Server(ServerOptions options, Metrics* metrics);
  ~Server();  // Stop()s.

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // IOError naming the address if the bind fails, InvalidArgument if the TLS
  // files do not load.
  Status Listen();
  // The port actually bound (after Listen).
  uint16_t port() const { return port_; }

  // Called once per finished request (on an I/O thread). Set before Start.
  void set_observer(RequestObserver observer);
  void set_handler(std::shared_ptr<Handler> handler);

  void Start();
  bool Shutdown(std::chrono::milliseconds drain_timeout);
  void Stop();

  size_t connections() const { return shared_->connections(); }
  size_t requests_in_flight() const { return shared_->requests_in_flight(); }

 private:
  void DoAccept();

  ServerOptions options_;
  Metrics* metrics_;
  // Before threads_: sessions (released with their IoThread) reference the
  // TLS context.
  std::optional<boost::asio::ssl::context> tls_;
  // threads_[0] also runs the acceptor.
  std::vector<std::unique_ptr<IoThread>> threads_;
  size_t next_thread_ = 0;  // round-robin; acceptor's thread only
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<SessionShared> shared_;
  uint16_t port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace stemedb::api
