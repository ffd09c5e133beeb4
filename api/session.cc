#include "api/session.h"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <deque>
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

// One request of a connection, from dispatch until its reply is written.
// Created and read on the connection's I/O thread; only `claimed` is touched
// by the thread that replies.
struct Slot {
  std::shared_ptr<RequestMeta> meta = std::make_shared<RequestMeta>();
  std::string method;
  unsigned version = 11;
  bool keep_alive = false;  // what the request asked for
  Overlap overlap = Overlap::kNone;
  Clock::time_point start;
  uint64_t bytes_in = 0;
  std::atomic<bool> claimed{false};  // the handler's one reply was taken
  std::optional<Response> res;       // the reply, once it arrived
  std::optional<StreamingReply> stream;
  bool finished = false;  // FinishRequest ran
  std::string head;       // serialized status line + fields of res
};

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
      read_deadline_ = Clock::now() + shared_->options.header_timeout;
      reading_ = true;  // the handshake reads and writes; nothing else runs
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                self->reading_ = false;
                                self->read_deadline_ = kNoDeadline;
                                if (self->closing_) return self->MaybeFinishClose();
                                // Scanners and plain-HTTP clients on the TLS port.
                                if (ec) return self->Close();
                                self->StartRequest();
                              });
    } else {
      StartRequest();
    }
  }

  void Drain() override {
    // An idle connection waits in a read: cancel it, OnRead closes. A busy
    // one stops reading (MayReadMore) and closes after its last reply.
    if (!closing_ && slots_.empty() && !header_done_ && !writing_) CancelOperations();
  }

  void CheckDeadline(Clock::time_point now) override {
    if (finished_ || (now < read_deadline_ && now < write_deadline_)) return;
    read_deadline_ = write_deadline_ = kNoDeadline;
    CancelOperations();  // the pending read and write complete with operation_aborted
    Close();
  }

 private:
  Socket& Lowest() { return beast::get_lowest_layer(stream_); }

  void CancelOperations() {
    beast::error_code ignored;
    Lowest().cancel(ignored);
  }

  bool OnThisThread() const { return thread_.context().get_executor().running_in_this_thread(); }

  // --- reading ----------------------------------------------------------

  // Whether the next request may be read now: the connection goes on, no
  // parsed request waits for its turn, and fewer than the pipeline depth
  // are in flight.
  bool MayReadMore() const {
    return !closing_ && !read_ended_ && !held_ && !continue_pending_ && !shared_->draining() &&
           slots_.size() < std::max<size_t>(shared_->options.max_pipeline_depth, 1);
  }

  void StartRequest() {
    if (shared_->draining() && slots_.empty() && !writing_) return Close();
    if (!MayReadMore()) return;
    parser_.emplace();
    parser_->header_limit(shared_->options.max_header_bytes);
    parser_->body_limit(shared_->options.max_body_bytes);
    bytes_in_ = 0;
    header_done_ = false;
    // While requests are in flight the connection is not idle: the client
    // may wait for their replies before it sends more (AfterReplies arms
    // the deadline once they are written).
    read_deadline_ = slots_.empty() ? Clock::now() + shared_->options.header_timeout : kNoDeadline;
    Parse();
  }

  // Feeds the parser from the buffer; reads only when it needs more. A
  // pipelined request already in the buffer is parsed without a read.
  void Parse() {
    if (reading_ || !parser_) return;
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
        start_ = Clock::now();
        read_deadline_ = start_ + shared_->options.body_timeout;
        // Only once the header passed the size checks: a client that waits
        // for 100 never sends a body we would refuse anyway. An interim
        // reply must not overtake the replies before it: it waits for them.
        if (!parser_->is_done() &&
            beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
          continue_pending_ = true;
          return MaybeSendContinue();
        }
      }
      if (parser_->is_done()) return OnRequestParsed();
      if (n == 0) return ReadSome();
    }
  }

  void ReadSome() {
    reading_ = true;
    stream_.async_read_some(
        buffer_.prepare(kReadChunk),
        [self = this->shared_from_this()](beast::error_code ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(beast::error_code ec, size_t n) {
    reading_ = false;
    buffer_.commit(n);
    if (closing_) return MaybeFinishClose();
    if (ec) {
      // The client closed mid-request: answer what we can (it may still read).
      if ((ec == net::error::eof || ec == net::ssl::error::stream_truncated) && parser_ &&
          parser_->got_some()) {
        return FailRequest(http::error::partial_message);
      }
      // The client sent its last request and half-closed: answer the ones
      // in flight, then close.
      if (ec == net::error::eof && !slots_.empty()) {
        read_ended_ = true;
        parser_.reset();
        return;
      }
      // EOF between requests, a drain or timeout (operation_aborted), a reset.
      return Close();
    }
    Parse();
  }

  void MaybeSendContinue() {
    if (!continue_pending_ || !slots_.empty() || writing_ || closing_) return;
    continue_pending_ = false;
    writing_ = true;
    write_deadline_ = Clock::now() + shared_->options.body_timeout;
    net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       self->writing_ = false;
                       self->write_deadline_ = kNoDeadline;
                       if (self->closing_) return self->MaybeFinishClose();
                       if (ec) return self->Close();
                       self->Parse();
                     });
  }

  // A request the parser rejected: answered after the requests before it,
  // then the connection closes (the rest of the stream is unparsable or
  // unread).
  void FailRequest(beast::error_code ec) {
    auto slot = std::make_shared<Slot>();
    // The request line is stored as soon as it is parsed, even when a later
    // header check (Content-Length over the limit) fails.
    slot->method = parser_ ? std::string(parser_->get().method_string()) : std::string();
    if (slot->method.empty()) slot->method = "UNKNOWN";
    slot->version = parser_ && parser_->get().version() != 0 ? parser_->get().version() : 11;
    slot->start = header_done_ ? start_ : Clock::now();
    slot->bytes_in = bytes_in_;
    slot->claimed = true;
    slot->res = ErrorResponse(ParseFailure(ec), 11, false);
    read_ended_ = true;
    parser_.reset();
    header_done_ = false;
    read_deadline_ = kNoDeadline;
    shared_->RequestStarted();
    slots_.push_back(std::move(slot));
    MaybeWrite();
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

  void OnRequestParsed() {
    held_.emplace(parser_->release());
    held_bytes_in_ = bytes_in_;
    held_start_ = start_;
    parser_.reset();
    header_done_ = false;
    read_deadline_ = kNoDeadline;
    DispatchHeld();
  }

  // Dispatches the parsed request if its turn has come: at once when
  // nothing is in flight, else only if it and every request in flight may
  // overlap the same way (Handler::Classify). Then reads on.
  void DispatchHeld() {
    if (!held_ || closing_) return;
    Handler* handler = shared_->handler();
    if (!slots_.empty()) {
      const Overlap overlap = handler != nullptr ? handler->Classify(*held_) : Overlap::kNone;
      if (overlap == Overlap::kNone) return;
      for (const auto& s : slots_) {
        if (s->overlap != overlap) return;  // wait: OnWrite calls again
      }
      held_overlap_ = overlap;
    } else {
      held_overlap_ = handler != nullptr ? handler->Classify(*held_) : Overlap::kNone;
    }
    Request req = std::move(*held_);
    held_.reset();
    Dispatch(handler, std::move(req));
    if (closing_) return;
    StartRequest();
  }

  void Dispatch(Handler* handler, Request req) {
    auto slot = std::make_shared<Slot>();
    slot->method.assign(req.method_string());
    slot->version = req.version();
    slot->keep_alive = req.keep_alive();
    slot->overlap = held_overlap_;
    slot->start = held_start_;
    slot->bytes_in = held_bytes_in_;
    slot->meta->next_request_waiting = buffer_.size() > 0 && slot->keep_alive;
    if (!slot->keep_alive) read_ended_ = true;  // its reply is the last
    shared_->RequestStarted();
    slots_.push_back(slot);
    if (handler == nullptr) {
      slot->claimed = true;
      return OnReply(
          slot, ErrorResponse(Unavailable("server is starting"), slot->version, slot->keep_alive));
    }
    auto self = this->shared_from_this();
    ReplyFn reply = [self, slot](Response res) {
      if (!Claim(*slot)) return;
      if (self->OnThisThread()) return self->OnReply(slot, std::move(res));
      net::post(self->thread_.context(), [self, slot, res = std::move(res)]() mutable {
        self->OnReply(slot, std::move(res));
      });
    };
    StreamFn stream = [self, slot](StreamingReply sr) {
      if (!Claim(*slot)) return;
      net::post(self->thread_.context(), [self, slot, sr = std::move(sr)]() mutable {
        self->OnStream(slot, std::move(sr));
      });
    };
    try {
      handler->Handle(std::move(req), slot->meta, std::move(reply), std::move(stream));
    } catch (const std::exception& e) {
      // Exceptions never cross into the transport's event loop.
      log::Error("handler threw", {{"route", slot->meta->route}, {"what", e.what()}});
      if (Claim(*slot, /*quiet=*/true)) {
        read_ended_ = true;
        OnReply(slot, ErrorResponse(Internal("internal error"), slot->version, false));
      }
    }
  }

  // Exactly-once is the handler's contract; this keeps a buggy second call
  // from writing a second reply.
  static bool Claim(Slot& slot, bool quiet = false) {
    if (!slot.claimed.exchange(true, std::memory_order_acq_rel)) return true;
    if (!quiet) log::Error("handler replied twice", {});
    return false;
  }

  void OnReply(const std::shared_ptr<Slot>& slot, Response res) {
    slot->res.emplace(std::move(res));
    if (closing_) return FinishRequest(*slot, 0);  // the connection is gone
    MaybeWrite();
  }

  void OnStream(const std::shared_ptr<Slot>& slot, StreamingReply sr) {
    slot->stream.emplace(std::move(sr));
    if (closing_) {
      slot->res.emplace(slot->stream->head.result(), slot->version);
      return FinishRequest(*slot, 0);
    }
    MaybeWrite();
  }

  // --- writing ------------------------------------------------------------

  // Whether `slot`'s reply keeps the connection open. A reply with others
  // behind it does (nothing follows a request that asked to close: its
  // dispatch ends reading); the last in flight does if the request asked
  // for it, the server is not draining and the connection goes on reading.
  bool KeepAlive(const Slot& slot, bool last_in_flight) const {
    if (!last_in_flight) return true;
    return slot.keep_alive && !shared_->draining() && !read_ended_;
  }

  // Writes the replies at the head of the queue that have arrived, in one
  // writev(2), in request order. A streaming reply goes alone.
  void MaybeWrite() {
    if (writing_ || closing_ || slots_.empty()) return;
    const std::shared_ptr<Slot>& head = slots_.front();
    if (head->stream) return SendStream(head);
    buffers_.clear();
    writing_count_ = 0;
    close_after_write_ = false;
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = *slots_[i];
      if (!slot.res || slot.stream) break;
      slot.res->version(slot.version);
      const bool last = i + 1 == slots_.size();
      const bool keep_alive = slot.res->keep_alive() && KeepAlive(slot, last);
      slot.head.clear();
      AppendHead(&slot.head, *slot.res, keep_alive);
      buffers_.push_back(net::buffer(slot.head));
      buffers_.push_back(net::buffer(slot.res->body()));
      ++writing_count_;
      if (!keep_alive) {
        close_after_write_ = true;
        break;
      }
    }
    if (writing_count_ == 0) return;
    writing_ = true;
    write_deadline_ = Clock::now() + shared_->options.body_timeout;
    net::async_write(stream_, buffers_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                       self->OnWrite(ec, n);
                     });
  }

  void OnWrite(beast::error_code ec, size_t n) {
    writing_ = false;
    write_deadline_ = kNoDeadline;
    for (size_t i = 0; i < writing_count_; ++i) {
      Slot& slot = *slots_.front();
      // Each reply's own bytes; the last takes whatever is left.
      const size_t size = i + 1 == writing_count_ ? n : slot.head.size() + slot.res->body().size();
      const size_t written = std::min(size, n);
      n -= written;
      FinishRequest(slot, written);
      slots_.pop_front();
    }
    writing_count_ = 0;
    if (ec || close_after_write_ || closing_) return Close();
    AfterReplies();
  }

  // After replies left the queue: a waiting request or interim reply may
  // go now, more replies may be ready, and the next request may be read.
  void AfterReplies() {
    if (slots_.empty()) {
      if (read_ended_ && !held_) return Close();
      if (shared_->draining() && !header_done_) return Close();
      if (!header_done_ && parser_) read_deadline_ = Clock::now() + shared_->options.header_timeout;
    }
    MaybeSendContinue();
    DispatchHeld();
    if (closing_) return;
    MaybeWrite();
    if (!parser_ && !reading_) StartRequest();
  }

  // --- streaming ------------------------------------------------------------

  void SendStream(std::shared_ptr<Slot> slot) {
    StreamingReply& sr = *slot->stream;
    head_res_.emplace(sr.head.result(), slot->version);
    for (const auto& f : sr.head) head_res_->set(f.name_string(), f.value());
    head_res_->chunked(true);
    head_res_->keep_alive(KeepAlive(*slot, slots_.size() == 1));
    head_sr_.emplace(*head_res_);
    writing_ = true;
    write_deadline_ = Clock::now() + shared_->options.body_timeout;
    http::async_write_header(
        stream_, *head_sr_,
        [self = this->shared_from_this(), slot, produce = std::move(sr.produce)](
            beast::error_code ec, size_t n) mutable {
          self->stream_bytes_ = n;
          self->write_deadline_ = kNoDeadline;  // the producer's pace is its own
          if (ec) return self->EndStream(false);
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
      self->write_deadline_ = Clock::now() + self->shared_->options.body_timeout;
      net::async_write(self->stream_, http::make_chunk(net::buffer(*data)),
                       [self, data, done](beast::error_code ec, size_t n) {
                         self->write_deadline_ = kNoDeadline;
                         self->stream_bytes_ += n;
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
    Slot& slot = *slots_.front();
    if (!complete || stream_failed_.load() || closing_) {
      // Without the last chunk the client sees a truncated body: that is the
      // signal that the stream failed (the status was sent long ago).
      writing_ = false;
      FinishStream(slot);
      return Close();
    }
    write_deadline_ = Clock::now() + shared_->options.body_timeout;
    net::async_write(stream_, http::make_chunk_last(),
                     [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                       self->writing_ = false;
                       self->write_deadline_ = kNoDeadline;
                       self->stream_bytes_ += n;
                       const bool keep = self->head_res_->keep_alive();
                       self->FinishStream(*self->slots_.front());
                       if (ec || !keep || self->closing_) return self->Close();
                       self->AfterReplies();
                     });
  }

  void FinishStream(Slot& slot) {
    slot.res.emplace(head_res_->result(), slot.version);
    head_sr_.reset();
    head_res_.reset();
    FinishRequest(slot, stream_bytes_);
    slots_.pop_front();
  }

  // --- bookkeeping and close ----------------------------------------------

  void FinishRequest(Slot& slot, uint64_t bytes_out) {
    if (slot.finished) return;
    slot.finished = true;
    if (shared_->observer) {
      CompletedRequest done;
      done.method = slot.method;
      done.status = slot.res ? slot.res->result_int() : 0;
      done.duration = Clock::now() - slot.start;
      done.bytes_in = slot.bytes_in;
      done.bytes_out = bytes_out;
      done.meta = slot.meta.get();
      try {
        shared_->observer(done);
      } catch (const std::exception& e) {
        log::Error("request observer threw", {{"what", e.what()}});
      }
    }
    shared_->RequestFinished();
  }

  // Ends the connection once no read or write is pending (a pending one is
  // cancelled, and its handler comes back here). A TLS session sends
  // close_notify first (bounded by a 2 s deadline); a plain one half-closes
  // so the reply already written still reaches the client, and the socket
  // closes with the session. Requests still in flight finish when their
  // replies arrive (OnReply), which are then dropped.
  void Close() {
    if (!closing_) {
      closing_ = true;
      held_.reset();
      parser_.reset();
      if (reading_ || writing_) CancelOperations();
    }
    MaybeFinishClose();
  }

  void MaybeFinishClose() {
    if (reading_ || writing_ || close_started_) return;
    close_started_ = true;
    for (const auto& slot : slots_) {
      if (slot->res || slot->stream) FinishRequest(*slot, 0);
    }
    if constexpr (kTls) {
      write_deadline_ = Clock::now() + std::chrono::seconds(2);
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
    read_deadline_ = write_deadline_ = kNoDeadline;
    shared_->ConnectionClosed();
    thread_.Remove(this);
  }

  Stream stream_;
  IoThread& thread_;
  std::shared_ptr<SessionShared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // Requests dispatched and not yet answered on the wire, in request order.
  std::deque<std::shared_ptr<Slot>> slots_;
  // A parsed request waiting for its turn (DispatchHeld).
  std::optional<Request> held_;
  Overlap held_overlap_ = Overlap::kNone;
  uint64_t held_bytes_in_ = 0;
  Clock::time_point held_start_;
  std::vector<net::const_buffer> buffers_;  // of the write in progress
  size_t writing_count_ = 0;                // replies in it
  std::optional<http::response<http::empty_body>> head_res_;
  std::optional<http::response_serializer<http::empty_body>> head_sr_;
  std::atomic<bool> stream_failed_{false};
  Clock::time_point read_deadline_ = kNoDeadline;
  Clock::time_point write_deadline_ = kNoDeadline;
  Clock::time_point start_;
  bool reading_ = false;
  bool writing_ = false;
  bool header_done_ = false;
  bool continue_pending_ = false;  // a 100 Continue waits for earlier replies
  bool read_ended_ = false;        // no request is read after the last parsed
  bool close_after_write_ = false;
  bool closing_ = false;
  bool close_started_ = false;
  bool finished_ = false;
  uint64_t bytes_in_ = 0;      // of the request being read
  uint64_t stream_bytes_ = 0;  // of the streaming reply being written
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
