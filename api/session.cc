#include "api/session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <future>
#include <optional>
#include <thread>

#include "util/logging.h"

namespace stemedb::api {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

Response TransportError(http::status status, std::string_view code, std::string_view message,
                        unsigned version, bool keep_alive) {
  boost::json::object err;
  err["code"] = code;
  err["message"] = message;
  boost::json::object body;
  body["error"] = std::move(err);
  Response res{status, version};
  res.set(http::field::content_type, "application/json");
  if (status == http::status::service_unavailable) res.set(http::field::retry_after, "1");
  res.body() = boost::json::serialize(body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

// --- SessionShared ----------------------------------------------------------

std::shared_ptr<Handler> SessionShared::handler() const {
  std::lock_guard<std::mutex> lock(mu_);
  return handler_;
}

void SessionShared::set_handler(std::shared_ptr<Handler> handler) {
  std::lock_guard<std::mutex> lock(mu_);
  handler_ = std::move(handler);
}

void SessionShared::Register(const std::shared_ptr<Session>& session) {
  size_t n = connections_.fetch_add(1) + 1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.emplace(session.get(), session);
  }
  if (on_connections) on_connections(n);
}

void SessionShared::Unregister(Session* session) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.erase(session);
  }
  size_t n = connections_.fetch_sub(1) - 1;
  if (on_connections) on_connections(n);
}

void SessionShared::BeginDrain() {
  draining_.store(true);
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [ptr, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->Drain();
}

namespace {

// One connection over `Stream` (beast::tcp_stream or ssl_stream of one).
template <class Stream>
class BasicSession final : public Session,
                           public std::enable_shared_from_this<BasicSession<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  BasicSession(tcp::socket&& socket, std::shared_ptr<SessionShared> shared) requires(!kTls)
      : stream_(std::move(socket)), shared_(std::move(shared)) {}
  BasicSession(tcp::socket&& socket, net::ssl::context& tls,
               std::shared_ptr<SessionShared> shared) requires(kTls)
      : stream_(std::move(socket), tls), shared_(std::move(shared)) {}

  ~BasicSession() override { shared_->Unregister(this); }

  void Run() override {
    // Start on the connection's strand: the acceptor hands the socket over
    // from its own strand.
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Lowest().expires_after(self->shared_->options.header_timeout);
        self->stream_.async_handshake(net::ssl::stream_base::server,
                                      beast::bind_front_handler(&BasicSession::OnHandshake, self));
      } else {
        self->DoReadHeader();
      }
    });
  }

  void Drain() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->idle_) self->Lowest().cancel();  // on_read sees operation_aborted
    });
  }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void OnHandshake(beast::error_code ec) {
    if (ec) return;  // scanners and plain-HTTP clients on the TLS port
    DoReadHeader();
  }

  void DoReadHeader() {
    if (shared_->draining()) return DoClose();
    parser_.emplace();
    parser_->header_limit(shared_->options.max_header_bytes);
    parser_->body_limit(shared_->options.max_body_bytes);
    bytes_in_ = 0;
    idle_ = true;
    Lowest().expires_after(shared_->options.header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&BasicSession::OnReadHeader, this->shared_from_this()));
  }

  void OnReadHeader(beast::error_code ec, std::size_t n) {
    idle_ = false;
    bytes_in_ += n;
    start_ = std::chrono::steady_clock::now();
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::eof) {
      return DoClose();
    }
    if (ec) return FailRequest(ec);
    const auto& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      // Only once the header passed the size checks: a client that waits for
      // 100 never sends a body we would refuse anyway.
      continue_.emplace(http::status::continue_, req.version());
      Lowest().expires_after(shared_->options.body_timeout);
      return http::async_write(
          stream_, *continue_,
          beast::bind_front_handler(&BasicSession::OnContinueWritten, this->shared_from_this()));
    }
    DoReadBody();
  }

  void OnContinueWritten(beast::error_code ec, std::size_t) {
    if (ec) return DoClose();
    DoReadBody();
  }

  void DoReadBody() {
    Lowest().expires_after(shared_->options.body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&BasicSession::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t n) {
    bytes_in_ += n;
    if (ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == http::error::end_of_stream || ec == net::error::eof) {
      return DoClose();
    }
    if (ec) return FailRequest(ec);
    Dispatch(parser_->release());
  }

  // A request the parser rejected: answer what we can, then close (the rest
  // of the stream is unparsable or unread).
  void FailRequest(beast::error_code ec) {
    meta_ = std::make_shared<RequestMeta>();
    // The request line is stored as soon as it is parsed, even when a later
    // header check (Content-Length over the limit) fails.
    method_ = parser_ ? std::string(parser_->get().method_string()) : std::string();
    if (method_.empty()) method_ = "UNKNOWN";
    version_ = parser_ && parser_->get().version() != 0 ? parser_->get().version() : 11;
    keep_alive_ = false;
    shared_->RequestStarted();
    in_request_ = true;
    if (ec == http::error::body_limit) {
      return SendResponse(TransportError(
          http::status::payload_too_large, "too_large",
          "request body exceeds " + std::to_string(shared_->options.max_body_bytes) + " bytes", 11,
          false));
    }
    if (ec == http::error::header_limit) {
      return SendResponse(TransportError(http::status::request_header_fields_too_large, "too_large",
                                         "request header too large", 11, false));
    }
    SendResponse(TransportError(http::status::bad_request, "invalid_request",
                                "malformed HTTP request: " + ec.message(), 11, false));
  }

  void Dispatch(Request req) {
    meta_ = std::make_shared<RequestMeta>();
    method_ = std::string(req.method_string());
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    shared_->RequestStarted();
    in_request_ = true;
    auto handler = shared_->handler();
    if (!handler) {
      return SendResponse(TransportError(http::status::service_unavailable, "unavailable",
                                         "server is starting", version_, keep_alive_));
    }
    auto self = this->shared_from_this();
    // Exactly-once is the handler's contract; the flag keeps a buggy second
    // call from writing into the next request's reply.
    auto once = std::make_shared<std::atomic<bool>>(false);
    ReplyFn reply = [self, once](Response res) {
      if (once->exchange(true)) return log::Error("handler replied twice", {});
      net::post(self->stream_.get_executor(),
                [self, res = std::move(res)]() mutable { self->SendResponse(std::move(res)); });
    };
    StreamFn stream = [self, once](StreamingReply sr) {
      if (once->exchange(true)) return log::Error("handler replied twice", {});
      net::post(self->stream_.get_executor(),
                [self, sr = std::move(sr)]() mutable { self->SendStream(std::move(sr)); });
    };
    try {
      handler->Handle(std::move(req), meta_, reply, stream);
    } catch (const std::exception& e) {
      // Exceptions never cross into the transport's event loop.
      log::Error("handler threw", {{"route", meta_->route}, {"what", e.what()}});
      if (!once->exchange(true)) {
        SendResponse(TransportError(http::status::internal_server_error, "internal",
                                    "internal error", version_, false));
      }
    }
  }

  bool KeepAlive() const { return keep_alive_ && !shared_->draining(); }

  void SendResponse(Response res) {
    res.version(version_);
    res.keep_alive(res.keep_alive() && KeepAlive());
    if (!res.has_content_length() && !res.chunked()) res.prepare_payload();
    status_ = res.result_int();
    res_ = std::make_shared<Response>(std::move(res));
    Lowest().expires_after(shared_->options.body_timeout);
    http::async_write(stream_, *res_,
                      beast::bind_front_handler(&BasicSession::OnWrite, this->shared_from_this(),
                                                res_->keep_alive()));
  }

  void OnWrite(bool keep_alive, beast::error_code ec, std::size_t n) {
    bytes_out_ = n;
    res_.reset();
    FinishRequest();
    if (ec || !keep_alive) return DoClose();
    DoReadHeader();
  }

  // --- streaming ------------------------------------------------------------

  void SendStream(StreamingReply sr) {
    head_.emplace(sr.head.result(), version_);
    for (const auto& f : sr.head) head_->set(f.name_string(), f.value());
    head_->chunked(true);
    head_->keep_alive(KeepAlive());
    status_ = head_->result_int();
    head_sr_.emplace(*head_);
    Lowest().expires_after(shared_->options.body_timeout);
    http::async_write_header(
        stream_, *head_sr_,
        [self = this->shared_from_this(), produce = std::move(sr.produce)](beast::error_code ec,
                                                                           std::size_t n) mutable {
          self->bytes_out_ = n;
          if (ec) {
            self->FinishRequest();
            return self->DoClose();
          }
          // The producer blocks on disk and on this socket: keep it off the
          // I/O threads.
          std::thread([self, produce = std::move(produce)] {
            bool complete = false;
            try {
              complete = produce([&](std::string_view chunk) { return self->WriteChunk(chunk); });
            } catch (const std::exception& e) {
              log::Error("stream producer threw", {{"what", e.what()}});
            }
            net::post(self->stream_.get_executor(),
                      [self, complete] { self->EndStream(complete); });
          }).detach();
        });
  }

  // Runs on the producer thread. Blocks until `chunk` is written.
  bool WriteChunk(std::string_view chunk) {
    if (chunk.empty()) return true;  // an empty chunk would end the body
    if (stream_failed_.load() || shared_->stopped()) return false;
    auto done = std::make_shared<std::promise<bool>>();
    auto result = done->get_future();
    net::post(stream_.get_executor(), [self = this->shared_from_this(), chunk, done] {
      self->Lowest().expires_after(self->shared_->options.body_timeout);
      net::async_write(self->stream_, http::make_chunk(net::buffer(chunk.data(), chunk.size())),
                       [self, done](beast::error_code ec, std::size_t n) {
                         self->bytes_out_ += n;
                         if (ec) self->stream_failed_.store(true);
                         done->set_value(!ec);
                       });
    });
    // A stopped io_context never runs the write: poll so the producer
    // cannot hang past shutdown.
    while (result.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      if (shared_->stopped()) return false;
    }
    try {
      return result.get();
    } catch (const std::future_error&) {
      return false;
    }
  }

  void EndStream(bool complete) {
    if (!complete || stream_failed_.load()) {
      // Without the last chunk the client sees a truncated body: that is the
      // signal that the stream failed (the status was sent long ago).
      FinishRequest();
      return DoClose();
    }
    Lowest().expires_after(shared_->options.body_timeout);
    net::async_write(stream_, http::make_chunk_last(),
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                       self->bytes_out_ += n;
                       bool keep = self->head_->keep_alive();
                       self->head_sr_.reset();
                       self->head_.reset();
                       self->FinishRequest();
                       if (ec || !keep) return self->DoClose();
                       self->DoReadHeader();
                     });
  }

  // --- bookkeeping and close ----------------------------------------------

  void FinishRequest() {
    if (!in_request_) return;
    in_request_ = false;
    if (shared_->observer) {
      CompletedRequest done;
      done.method = method_;
      done.status = status_;
      done.duration = std::chrono::steady_clock::now() - start_;
      done.bytes_in = bytes_in_;
      done.bytes_out = bytes_out_;
      done.meta = meta_.get();
      try {
        shared_->observer(done);
      } catch (const std::exception& e) {
        log::Error("request observer threw", {{"what", e.what()}});
      }
    }
    meta_.reset();
    shared_->RequestFinished();
  }

  void DoClose() {
    idle_ = false;
    if constexpr (kTls) {
      Lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        self->Lowest().socket().close(ignored);
      });
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  Stream stream_;
  std::shared_ptr<SessionShared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::shared_ptr<Response> res_;
  std::optional<http::response<http::empty_body>> head_;
  std::optional<http::response_serializer<http::empty_body>> head_sr_;
  std::shared_ptr<RequestMeta> meta_;
  std::atomic<bool> stream_failed_{false};
  bool idle_ = false;
  bool in_request_ = false;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  unsigned status_ = 0;
  std::string method_;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

std::shared_ptr<Session> Session::MakePlain(tcp::socket socket,
                                            std::shared_ptr<SessionShared> shared) {
  auto s = std::make_shared<BasicSession<beast::tcp_stream>>(std::move(socket), shared);
  shared->Register(s);
  return s;
}

std::shared_ptr<Session> Session::MakeTls(tcp::socket socket, net::ssl::context& tls,
                                          std::shared_ptr<SessionShared> shared) {
  auto s = std::make_shared<BasicSession<beast::ssl_stream<beast::tcp_stream>>>(std::move(socket),
                                                                                tls, shared);
  shared->Register(s);
  return s;
}

}  // namespace stemedb::api
