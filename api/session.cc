#include "api/session.h"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <future>
#include <optional>
#include <string>

#include "api/error_reply.h"
#include "api/io_thread.h"
#include "util/logging.h"

namespace stemedb::api {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// --- SessionShared ----------------------------------------------------------

void SessionShared::set_handler(std::shared_ptr<Handler> handler) {
  std::lock_guard<std::mutex> lock(mu_);
  // A request may still be inside the previous handler: keep it alive.
  handler_.store(handler.get(), std::memory_order_release);
  if (handler) installed_.push_back(std::move(handler));
}

void SessionShared::ConnectionOpened() {
  size_t n = connections_.fetch_add(1) + 1;
  if (on_connections) on_connections(n);
}

void SessionShared::ConnectionClosed() {
  size_t n = connections_.fetch_sub(1) - 1;
  if (on_connections) on_connections(n);
}

namespace {

constexpr Clock::time_point kNoDeadline = Clock::time_point::max();
// Bytes asked of one read(2). A request body beyond it takes several reads;
// the parser moves body bytes out of the buffer as they arrive, so the
// buffer stays near header_limit + kReadChunk.
constexpr size_t kReadChunk = 64 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// The status line and header fields of `res` as they go on the wire, for a
// reply with a string body: what Beast's serializer writes, without its
// buffer-sequence machinery. The framing fields are the transport's, so they
// are written from the facts rather than taken from `res` (a handler never
// has to set them, which spares an allocated field each): Content-Length is
// the body's size (none for 1xx, 204 and 304, whose bodies are empty), and
// Connection says `keep_alive` where the version's default does not.
void AppendHead(std::string* out, const Response& res, bool keep_alive) {
  out->append(res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  const unsigned code = res.result_int();
  const char digits[3] = {static_cast<char>('0' + code / 100 % 10),
                          static_cast<char>('0' + code / 10 % 10),
                          static_cast<char>('0' + code % 10)};
  out->append(digits, 3);
  out->push_back(' ');
  std::string_view reason = res.reason();
  if (reason.empty()) reason = http::obsolete_reason(res.result());
  out->append(reason);
  out->append("\r\n");
  for (const auto& f : res) {
    const http::field name = f.name();
    if (name == http::field::content_length || name == http::field::connection ||
        name == http::field::transfer_encoding) {
      continue;
    }
    out->append(f.name_string());
    out->append(": ");
    out->append(f.value());
    out->append("\r\n");
  }
  if (!(code / 100 == 1 || code == 204 || code == 304)) {
    char digits_buf[24];
    out->append("Content-Length: ");
    out->append(digits_buf,
                std::to_chars(digits_buf, digits_buf + sizeof digits_buf, res.body().size()).ptr);
    out->append("\r\n");
  }
  if (res.version() == 10) {
    if (keep_alive) out->append("Connection: keep-alive\r\n");
  } else if (!keep_alive) {
    out->append("Connection: close\r\n");
  }
  out->append("\r\n");
}

// One connection over `Stream` (Socket, or an ssl::stream of one).
template <class Stream>
class BasicSession final : public Session,
                           public std::enable_shared_from_this<BasicSession<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, Socket>;

  BasicSession(Socket&& socket, IoThread& thread,
               std::shared_ptr<SessionShared> shared) requires(!kTls)
      : stream_(std::move(socket)), thread_(thread), shared_(std::move(shared)) {}
  BasicSession(Socket&& socket, IoThread& thread, net::ssl::context& tls,
               std::shared_ptr<SessionShared> shared) requires(kTls)
      : stream_(std::move(socket), tls), thread_(thread), shared_(std::move(shared)) {}

  void Run() override {
    thread_.Add(this->shared_from_this());
    if constexpr (kTls) {
      deadline_ = Clock::now() + shared_->options.header_timeout;
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                // Scanners and plain-HTTP clients on the TLS port.
                                if (ec) return self->Close();
                                self->StartRequest();
                              });
    } else {
      StartRequest();
    }
  }

  void Drain() override {
    // An idle connection waits in a read: cancel it, OnRead closes.
    if (idle_ && !closing_) CancelOperations();
  }

  void CheckDeadline(Clock::time_point now) override {
    if (finished_ || now < deadline_) return;
    deadline_ = kNoDeadline;
    CancelOperations();  // the pending read or write completes with operation_aborted
  }

 private:
  Socket& Lowest() { return beast::get_lowest_layer(stream_); }

  void CancelOperations() {
    beast::error_code ignored;
    Lowest().cancel(ignored);
  }

  bool OnThisThread() const { return thread_.context().get_executor().running_in_this_thread(); }

  // --- reading ----------------------------------------------------------

  void StartRequest() {
    if (shared_->draining()) return Close();
    parser_.emplace();
    parser_->header_limit(shared_->options.max_header_bytes);
    parser_->body_limit(shared_->options.max_body_bytes);
    bytes_in_ = 0;
    header_done_ = false;
    idle_ = true;
    deadline_ = Clock::now() + shared_->options.header_timeout;
    Parse();
  }

  // Feeds the parser from the buffer; reads only when it needs more. A
  // pipelined request already in the buffer is parsed without a read.
  void Parse() {
    for (;;) {
      if (buffer_.size() == 0) return ReadSome();
      beast::error_code ec;
      const size_t n = parser_->put(buffer_.data(), ec);
      buffer_.consume(n);
      bytes_in_ += n;
      if (ec == http::error::need_more) return ReadSome();
      if (ec) return FailRequest(ec);
      if (!header_done_ && parser_->is_header_done()) {
        header_done_ = true;
        idle_ = false;
        start_ = Clock::now();
        deadline_ = start_ + shared_->options.body_timeout;
        // Only once the header passed the size checks: a client that waits
        // for 100 never sends a body we would refuse anyway.
        if (!parser_->is_done() &&
            beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
          return SendContinue();
        }
      }
      if (parser_->is_done()) return Dispatch(parser_->release());
      if (n == 0) return ReadSome();
    }
  }

  void ReadSome() {
    stream_.async_read_some(
        buffer_.prepare(kReadChunk),
        [self = this->shared_from_this()](beast::error_code ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(beast::error_code ec, size_t n) {
    buffer_.commit(n);
    if (ec) {
      // The client closed mid-request: answer what we can (it may still read).
      if ((ec == net::error::eof || ec == net::ssl::error::stream_truncated) && parser_ &&
          parser_->got_some() && !closing_) {
        return FailRequest(http::error::partial_message);
      }
      // EOF between requests, a drain or timeout (operation_aborted), a reset.
      return Close();
    }
    Parse();
  }

  void SendContinue() {
    net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Close();
                       self->Parse();
                     });
  }

  // A request the parser rejected: answer what we can, then close (the rest
  // of the stream is unparsable or unread).
  void FailRequest(beast::error_code ec) {
    meta_ = std::make_shared<RequestMeta>();
    idle_ = false;
    // The request line is stored as soon as it is parsed, even when a later
    // header check (Content-Length over the limit) fails.
    method_ = parser_ ? std::string(parser_->get().method_string()) : std::string();
    if (method_.empty()) method_ = "UNKNOWN";
    version_ = parser_ && parser_->get().version() != 0 ? parser_->get().version() : 11;
    keep_alive_ = false;
    if (!header_done_) start_ = Clock::now();
    shared_->RequestStarted();
    in_request_ = true;
    SendResponse(ErrorResponse(ParseFailure(ec), 11, false));
  }

  // What the client is told about a request the parser rejected.
  ApiError ParseFailure(beast::error_code ec) const {
    if (ec == http::error::body_limit) {
      return TooLarge("request body exceeds " + std::to_string(shared_->options.max_body_bytes) +
                      " bytes");
    }
    if (ec == http::error::header_limit) return HeaderTooLarge("request header too large");
    return InvalidRequest("malformed HTTP request: " + ec.message());
  }

  // --- handling ---------------------------------------------------------

  void Dispatch(Request req) {
    deadline_ = kNoDeadline;  // the handler may wait for a WAL commit
    meta_ = std::make_shared<RequestMeta>();
    method_.assign(req.method_string());
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    shared_->RequestStarted();
    in_request_ = true;
    Handler* handler = shared_->handler();
    if (handler == nullptr) {
      return SendResponse(ErrorResponse(Unavailable("server is starting"), version_, keep_alive_));
    }
    const uint64_t generation = generation_.fetch_add(1, std::memory_order_relaxed) + 1;
    auto self = this->shared_from_this();
    ReplyFn reply = [self, generation](Response res) {
      if (!self->Claim(generation)) return;
      if (self->OnThisThread()) return self->SendResponse(std::move(res));
      net::post(self->thread_.context(),
                [self, res = std::move(res)]() mutable { self->SendResponse(std::move(res)); });
    };
    StreamFn stream = [self, generation](StreamingReply sr) {
      if (!self->Claim(generation)) return;
      net::post(self->thread_.context(),
                [self, sr = std::move(sr)]() mutable { self->SendStream(std::move(sr)); });
    };
    try {
      handler->Handle(std::move(req), meta_, std::move(reply), std::move(stream));
    } catch (const std::exception& e) {
      // Exceptions never cross into the transport's event loop.
      log::Error("handler threw", {{"route", meta_->route}, {"what", e.what()}});
      if (Claim(generation, /*quiet=*/true)) {
        SendResponse(ErrorResponse(Internal("internal error"), version_, false));
      }
    }
  }

  // Exactly-once is the handler's contract; this keeps a buggy second call
  // (or a late call for an earlier request) from writing into the current
  // request's reply. Requests are sequential, so while request `g` is
  // active the last answered one is g-1.
  bool Claim(uint64_t generation, bool quiet = false) {
    uint64_t expected = generation - 1;
    if (answered_.compare_exchange_strong(expected, generation, std::memory_order_acq_rel)) {
      return true;
    }
    if (!quiet) log::Error("handler replied twice", {});
    return false;
  }

  bool KeepAlive() const { return keep_alive_ && !shared_->draining(); }

  // --- writing ------------------------------------------------------------

  void SendResponse(Response res) {
    res.version(version_);
    const bool keep_alive = res.keep_alive() && KeepAlive();
    status_ = res.result_int();
    res_ = std::move(res);
    deadline_ = Clock::now() + shared_->options.body_timeout;
    auto done = [self = this->shared_from_this(), keep_alive](beast::error_code ec, size_t n) {
      self->OnWrite(keep_alive, ec, n);
    };
    if (res_->chunked()) {
      // Not produced by our handlers; Beast's serializer does the framing.
      res_->keep_alive(keep_alive);
      return http::async_write(stream_, *res_, std::move(done));
    }
    head_.clear();
    AppendHead(&head_, *res_, keep_alive);
    const std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(res_->body())};
    net::async_write(stream_, buffers, std::move(done));
  }

  void OnWrite(bool keep_alive, beast::error_code ec, size_t n) {
    bytes_out_ = n;
    res_.reset();
    FinishRequest();
    if (ec || !keep_alive) return Close();
    StartRequest();
  }

  // --- streaming ------------------------------------------------------------

  void SendStream(StreamingReply sr) {
    head_res_.emplace(sr.head.result(), version_);
    for (const auto& f : sr.head) head_res_->set(f.name_string(), f.value());
    head_res_->chunked(true);
    head_res_->keep_alive(KeepAlive());
    status_ = head_res_->result_int();
    head_sr_.emplace(*head_res_);
    deadline_ = Clock::now() + shared_->options.body_timeout;
    http::async_write_header(
        stream_, *head_sr_,
        [self = this->shared_from_this(), produce = std::move(sr.produce)](beast::error_code ec,
                                                                           size_t n) mutable {
          self->bytes_out_ = n;
          self->deadline_ = kNoDeadline;  // the producer's pace is its own
          if (ec) {
            self->FinishRequest();
            return self->Close();
          }
          // The producer blocks on disk and on this socket: keep it off the
          // I/O threads, on a thread the Server joins before it stops.
          const bool started = self->shared_->streams.Start([self, produce = std::move(produce)] {
            bool complete = false;
            try {
              complete = produce([&](std::string_view chunk) { return self->WriteChunk(chunk); });
            } catch (const std::exception& e) {
              log::Error("stream producer threw", {{"what", e.what()}});
            }
            net::post(self->thread_.context(), [self, complete] { self->EndStream(complete); });
          });
          if (!started) self->EndStream(false);  // stopping: a truncated body
        });
  }

  // Runs on the producer thread. Blocks until `chunk` is written.
  bool WriteChunk(std::string_view chunk) {
    if (chunk.empty()) return true;  // an empty chunk would end the body
    if (stream_failed_.load() || shared_->stopped()) return false;
    auto done = std::make_shared<std::promise<bool>>();
    auto result = done->get_future();
    // A copy: on a stop this returns before the write completes, and the
    // producer may reuse its buffer while the I/O thread still sends it.
    auto data = std::make_shared<std::string>(chunk);
    net::post(thread_.context(), [self = this->shared_from_this(), data, done] {
      self->deadline_ = Clock::now() + self->shared_->options.body_timeout;
      net::async_write(self->stream_, http::make_chunk(net::buffer(*data)),
                       [self, data, done](beast::error_code ec, size_t n) {
                         self->deadline_ = kNoDeadline;
                         self->bytes_out_ += n;
                         if (ec) self->stream_failed_.store(true);
                         done->set_value(!ec);
                       });
    });
    // Once the server stops, neither a client that stopped reading nor a
    // stopped io_context may hold the producer (Server::Stop joins it): poll.
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
      return Close();
    }
    deadline_ = Clock::now() + shared_->options.body_timeout;
    net::async_write(stream_, http::make_chunk_last(),
                     [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                       self->bytes_out_ += n;
                       const bool keep = self->head_res_->keep_alive();
                       self->head_sr_.reset();
                       self->head_res_.reset();
                       self->FinishRequest();
                       if (ec || !keep) return self->Close();
                       self->StartRequest();
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
      done.duration = Clock::now() - start_;
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

  // Ends the connection. A TLS session sends close_notify first (bounded by
  // a 2 s deadline); a plain one half-closes so the reply already written
  // still reaches the client, and the socket closes with the session.
  void Close() {
    if (closing_) return;
    closing_ = true;
    idle_ = false;
    if constexpr (kTls) {
      deadline_ = Clock::now() + std::chrono::seconds(2);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        self->Lowest().close(ignored);
        self->Finish();
      });
    } else {
      beast::error_code ignored;
      stream_.shutdown(tcp::socket::shutdown_send, ignored);
      Finish();
    }
  }

  // Last step: may drop the last reference to this session (callers hold one).
  void Finish() {
    finished_ = true;
    deadline_ = kNoDeadline;
    shared_->ConnectionClosed();
    thread_.Remove(this);
  }

  Stream stream_;
  IoThread& thread_;
  std::shared_ptr<SessionShared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<Response> res_;
  std::string head_;  // serialized status line + fields of res_
  std::optional<http::response<http::empty_body>> head_res_;
  std::optional<http::response_serializer<http::empty_body>> head_sr_;
  std::shared_ptr<RequestMeta> meta_;
  // Requests dispatched / answered so far (see Claim).
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> answered_{0};
  std::atomic<bool> stream_failed_{false};
  Clock::time_point deadline_ = kNoDeadline;
  Clock::time_point start_;
  bool idle_ = false;
  bool header_done_ = false;
  bool in_request_ = false;
  bool keep_alive_ = false;
  bool closing_ = false;
  bool finished_ = false;
  unsigned version_ = 11;
  unsigned status_ = 0;
  std::string method_;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

}  // namespace

std::shared_ptr<Session> Session::MakePlain(Socket socket, IoThread& thread,
                                            std::shared_ptr<SessionShared> shared) {
  shared->ConnectionOpened();
  return std::make_shared<BasicSession<Socket>>(std::move(socket), thread, std::move(shared));
}

std::shared_ptr<Session> Session::MakeTls(Socket socket, IoThread& thread, net::ssl::context& tls,
                                          std::shared_ptr<SessionShared> shared) {
  shared->ConnectionOpened();
  return std::make_shared<BasicSession<net::ssl::stream<Socket>>>(std::move(socket), thread, tls,
                                                                  std::move(shared));
}

}  // namespace stemedb::api
