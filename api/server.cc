#include "api/server.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <future>
#include <thread>

#include "api/metrics.h"
#include "util/logging.h"

namespace stemedb::api {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Deadlines are checked this often: a quarter of the shortest timeout, so a
// timeout fires at most 25 % late, and at least every 250 ms.
std::chrono::milliseconds SweepInterval(const TransportOptions& t) {
  auto shortest = std::min(t.header_timeout, t.body_timeout);
  return std::clamp(shortest / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
}

std::vector<std::unique_ptr<IoThread>> MakeThreads(const ServerOptions& o) {
  std::vector<std::unique_ptr<IoThread>> threads;
  const size_t n = std::max<size_t>(1, o.io_threads);
  for (size_t i = 0; i < n; ++i) {
    threads.push_back(std::make_unique<IoThread>(SweepInterval(o.transport)));
  }
  return threads;
}

}  // namespace

Server::Server(ServerOptions options, Metrics* metrics)
    : options_(std::move(options)),
      metrics_(metrics),
      threads_(MakeThreads(options_)),
      acceptor_(threads_.front()->context()),
      shared_(std::make_shared<SessionShared>()) {
  shared_->options = options_.transport;
  if (metrics_ != nullptr) {
    shared_->on_connections = [m = metrics_](size_t n) { m->SetConnectionsActive(n); };
  }
}

Server::~Server() { Stop(); }

void Server::set_observer(RequestObserver observer) { shared_->observer = std::move(observer); }

void Server::set_handler(std::shared_ptr<Handler> handler) {
  shared_->set_handler(std::move(handler));
}

Status Server::Listen() {
  if (!options_.tls_cert_path.empty()) {
    tls_.emplace(net::ssl::context::tls_server);
    boost::system::error_code ec;
    tls_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                          net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                          net::ssl::context::no_tlsv1_1,
                      ec);
    if (!ec) tls_->use_certificate_chain_file(options_.tls_cert_path, ec);
    if (ec) {
      return Status::InvalidArgument("STEMEDB_TLS_CERT_PATH '" + options_.tls_cert_path +
                                     "': " + ec.message());
    }
    tls_->use_private_key_file(options_.tls_key_path, net::ssl::context::pem, ec);
    if (ec) {
      return Status::InvalidArgument("STEMEDB_TLS_KEY_PATH '" + options_.tls_key_path +
                                     "': " + ec.message());
    }
  }

  boost::system::error_code ec;
  auto address = net::ip::make_address(options_.host, ec);
  if (ec) return Status::InvalidArgument("bad bind host '" + options_.host + "'");
  tcp::endpoint endpoint(address, options_.port);
  std::string where = options_.host + ":" + std::to_string(options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (ec) return Status::IOError("cannot bind " + where + ": " + ec.message());
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("cannot listen on " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  return Status::OK();
}

void Server::Start() {
  started_ = true;
  net::post(acceptor_.get_executor(), [this] { DoAccept(); });
  for (auto& t : threads_) t->Start();
}

void Server::DoAccept() {
  // Each connection is created on the next IoThread's context and stays
  // there: its handlers never run concurrently and need no strand.
  IoThread& target = *threads_[next_thread_];
  next_thread_ = (next_thread_ + 1) % threads_.size();
  acceptor_.async_accept(
      target.context().get_executor(),
      [this, &target](boost::system::error_code ec, Socket socket) {
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
        if (ec) {
          // EMFILE and friends: log, and go on accepting (the backlog drains as
          // connections close).
          log::Warn("accept failed", {{"error", ec.message()}});
        } else if (shared_->draining()) {
          boost::system::error_code ignored;
          socket.close(ignored);
        } else if (shared_->connections() >= options_.max_connections) {
          if (metrics_ != nullptr) metrics_->AddConnectionRejected();
          boost::system::error_code ignored;
          socket.close(ignored);
        } else {
          boost::system::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          auto session = tls_ ? Session::MakeTls(std::move(socket), target, *tls_, shared_)
                              : Session::MakePlain(std::move(socket), target, shared_);
          net::post(target.context(), [session = std::move(session)] { session->Run(); });
        }
        DoAccept();
      });
}

bool Server::Shutdown(std::chrono::milliseconds drain_timeout) {
  if (stopped_) return true;
  // Close the acceptor on its thread (it is not thread-safe), then drain.
  std::promise<void> closed;
  net::post(acceptor_.get_executor(), [this, &closed] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    closed.set_value();
  });
  if (started_) closed.get_future().wait();
  shared_->MarkDraining();
  for (auto& t : threads_) t->DrainAll();

  auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  bool drained = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (shared_->requests_in_flight() == 0 && shared_->connections() == 0) {
      drained = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!drained && shared_->requests_in_flight() == 0) drained = true;  // only idle sockets left
  if (!drained) {
    log::Warn("drain timeout: closing connections with requests in flight",
              {{"in_flight", std::to_string(shared_->requests_in_flight())}});
  }
  Stop();
  return drained;
}

void Server::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // Fails every producer's next write; joining them while the I/O threads
  // still run lets each end its reply (a truncated chunked body) and close.
  shared_->MarkStopped();
  shared_->streams.Stop();
  for (auto& t : threads_) t->Stop();
}

}  // namespace stemedb::api
