// HttpClient on Boost.Beast: blocking calls built from async operations run to
// completion on a private io_context, because beast::tcp_stream's timeouts
// (expires_after) only apply to asynchronous operations.
//
// Write and read of one exchange run concurrently: a server may answer before
// it has read the body (413, 401 on a large upload) and close; reading in
// parallel gets that answer instead of a broken-pipe error on the write.
#include "stemectl/http_client.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <charconv>
#include <optional>

namespace stemedb::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// Largest response body Request() buffers in memory. Bigger replies (backup
// archives) go through Download().
constexpr uint64_t kMaxBufferedBody = 512ull << 20;
constexpr uint32_t kMaxHeaderBytes = 64 << 10;
// Error bodies of a Download() are kept for the caller's message, not streamed.
constexpr uint64_t kMaxErrorBody = 1 << 20;
constexpr size_t kDownloadChunk = 64 << 10;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Errors that mean "the peer is not there or went away": worth a retry.
bool IsTransient(const error_code& ec) {
  return ec == asio::error::connection_refused || ec == asio::error::connection_reset ||
         ec == asio::error::connection_aborted || ec == asio::error::broken_pipe ||
         ec == asio::error::eof || ec == http::error::end_of_stream ||
         ec == beast::error::timeout || ec == asio::error::host_unreachable ||
         ec == asio::error::network_unreachable || ec == asio::error::timed_out ||
         ec == asio::error::operation_aborted || ec == ssl::error::stream_truncated ||
         ec == http::error::partial_message;
}

Status FromError(std::string_view what, const error_code& ec) {
  std::string msg = std::string(what) + ": " + ec.message();
  if (IsTransient(ec)) return Status::Unavailable(msg);
  return Status::IOError(msg);
}

template <class Message>
HttpResponse ToResponse(const Message& m) {
  HttpResponse r;
  r.status = static_cast<int>(m.result_int());
  for (const auto& field : m) {
    r.headers.emplace_back(Lower(field.name_string()), std::string(field.value()));
  }
  return r;
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  const std::string want = Lower(name);
  for (const auto& [k, v] : headers) {
    if (k == want) return v;
  }
  return "";
}

class HttpClient::Impl {
 public:
  Impl(std::string base_url, HttpClientOptions options)
      : options_(options), ssl_ctx_(ssl::context::tls_client) {
    parse_status_ = ParseUrl(base_url);
    if (tls_) {
      error_code ec;
      ssl_ctx_.set_default_verify_paths(ec);
      ssl_ctx_.set_verify_mode(options_.verify_tls ? ssl::verify_peer : ssl::verify_none, ec);
    }
  }

  Result<HttpResponse> Request(std::string_view method, std::string_view target,
                               std::string_view body,
                               const std::vector<std::pair<std::string, std::string>>& headers) {
    if (!parse_status_.ok()) return parse_status_;
    http::request<http::string_body> req;
    STEMEDB_RETURN_IF_ERROR(BuildRequest(method, target, headers, &req));
    if (!body.empty()) {
      req.body().assign(body.data(), body.size());
      if (req.find(http::field::content_type) == req.end()) {
        req.set(http::field::content_type, "application/json");
      }
    }
    req.prepare_payload();

    // One retry on a reused connection that turns out to be closed by the
    // server (idle timeout): the request never reached the application.
    for (int attempt = 0;; ++attempt) {
      const bool reused = IsOpen();
      if (!reused) STEMEDB_RETURN_IF_ERROR(Connect());
      bool stale = false;
      Result<HttpResponse> r = Exchange(req, &stale);
      if (r || !reused || !stale || attempt > 0) return r;
    }
  }

  Result<HttpResponse> Download(std::string_view target,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                const std::function<Status(std::string_view)>& sink) {
    if (!parse_status_.ok()) return parse_status_;
    http::request<http::empty_body> req;
    STEMEDB_RETURN_IF_ERROR(BuildRequest("GET", target, headers, &req));
    req.prepare_payload();
    // A download is long-running and not worth replaying on a stale reuse:
    // start it on a fresh connection.
    Close();
    STEMEDB_RETURN_IF_ERROR(Connect());

    error_code ec =
        Run([&](auto& s, auto done) { http::async_write(s, req, done); }, options_.request_timeout);
    if (ec) return Fail("send request", ec);

    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    parser.header_limit(kMaxHeaderBytes);
    ec = Run([&](auto& s, auto done) { http::async_read_header(s, buffer_, parser, done); },
             options_.request_timeout);
    if (ec) return Fail("read response header", ec);
    HttpResponse resp = ToResponse(parser.get());
    const bool error_reply = resp.status >= 300;

    std::array<char, kDownloadChunk> chunk;
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      // The timeout is per read: an inactivity bound, not a total bound,
      // so a multi-gigabyte archive is not cut off.
      ec = Run([&](auto& s, auto done) { http::async_read(s, buffer_, parser, done); },
               options_.request_timeout);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return Fail("read response body", ec);
      const size_t n = chunk.size() - parser.get().body().size;
      if (n == 0) continue;
      if (error_reply) {
        if (resp.body.size() + n <= kMaxErrorBody) resp.body.append(chunk.data(), n);
        continue;
      }
      Status st = sink(std::string_view(chunk.data(), n));
      if (!st.ok()) {
        Close();  // the rest of the body is unread: the connection is unusable
        return st;
      }
    }
    if (!parser.keep_alive()) Close();
    return resp;
  }

 private:
  Status ParseUrl(std::string_view url) {
    std::string_view rest;
    if (url.starts_with("http://")) {
      rest = url.substr(7);
    } else if (url.starts_with("https://")) {
      tls_ = true;
      rest = url.substr(8);
    } else {
      return Status::InvalidArgument("url must start with http:// or https://: " +
                                     std::string(url));
    }
    const size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
      prefix_ = std::string(rest.substr(slash));
      while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
    }
    std::string_view port;
    if (authority.starts_with('[')) {  // [::1]:18180
      const size_t close = authority.find(']');
      if (close == std::string_view::npos) return Status::InvalidArgument("bad IPv6 host in url");
      host_ = std::string(authority.substr(1, close - 1));
      if (close + 1 < authority.size() && authority[close + 1] == ':') {
        port = authority.substr(close + 2);
      }
    } else {
      const size_t colon = authority.rfind(':');
      host_ = std::string(authority.substr(0, colon));
      if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (host_.empty()) return Status::InvalidArgument("url has no host");
    port_ = port.empty() ? (tls_ ? "443" : "80") : std::string(port);
    unsigned value = 0;
    auto [p, err] = std::from_chars(port_.data(), port_.data() + port_.size(), value);
    if (err != std::errc() || p != port_.data() + port_.size() || value == 0 || value > 65535) {
      return Status::InvalidArgument("bad port in url: " + port_);
    }
    host_header_ = authority;
    return Status::OK();
  }

  template <class Body>
  Status BuildRequest(std::string_view method, std::string_view target,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      http::request<Body>* req) {
    const http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown)
      req->method_string(method);
    else
      req->method(verb);
    if (target.empty() || target.front() != '/') {
      return Status::InvalidArgument("request target must start with '/'");
    }
    req->target(prefix_ + std::string(target));
    req->version(11);
    req->set(http::field::host, host_header_);
    req->set(http::field::user_agent, "stemectl/" STEMEDB_VERSION);
    req->keep_alive(true);
    for (const auto& [k, v] : headers) req->set(k, v);
    return Status::OK();
  }

  bool IsOpen() const { return tls_ ? tls_stream_.has_value() : tcp_stream_.has_value(); }

  void Close() {
    error_code ignored;
    if (tls_stream_) beast::get_lowest_layer(*tls_stream_).socket().close(ignored);
    if (tcp_stream_) tcp_stream_->socket().close(ignored);
    tls_stream_.reset();
    tcp_stream_.reset();
    buffer_.clear();
  }

  Status Connect() {
    Close();
    tcp::resolver resolver(ioc_);
    error_code ec;
    auto endpoints = resolver.resolve(host_, port_, ec);
    if (ec) return Status::Unavailable("resolve " + host_ + ": " + ec.message());

    beast::tcp_stream stream(ioc_);
    stream.expires_after(options_.connect_timeout);
    stream.async_connect(endpoints, [&](const error_code& e, const tcp::endpoint&) { ec = e; });
    ioc_.restart();
    ioc_.run();
    if (ec) return FromError("connect to " + host_header_, ec);
    stream.expires_never();
    error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);

    if (!tls_) {
      tcp_stream_.emplace(std::move(stream));
      return Status::OK();
    }
    tls_stream_.emplace(std::move(stream), ssl_ctx_);
    if (!SSL_set_tlsext_host_name(tls_stream_->native_handle(), host_.c_str())) {
      Close();
      return Status::IOError("TLS: cannot set SNI host name");
    }
    if (options_.verify_tls) tls_stream_->set_verify_callback(ssl::host_name_verification(host_));
    ec = Run([&](auto& s, auto done) { RunHandshake(s, done); }, options_.connect_timeout);
    if (ec) {
      Close();
      return Status::IOError("TLS handshake with " + host_header_ + ": " + ec.message());
    }
    return Status::OK();
  }

  // Only the TLS stream has a handshake; the tcp instantiation is never called.
  template <class Done>
  static void RunHandshake(ssl::stream<beast::tcp_stream>& s, Done done) {
    s.async_handshake(ssl::stream_base::client,
                      [done](const error_code& e) mutable { done(e, 0); });
  }
  template <class Done>
  static void RunHandshake(beast::tcp_stream&, Done done) {
    done(error_code(asio::error::operation_not_supported), 0);
  }

  beast::tcp_stream& Lowest() {
    return tls_ ? beast::get_lowest_layer(*tls_stream_) : *tcp_stream_;
  }

  // Starts `start(stream, handler)` and runs the io_context until it
  // completes or `timeout` passes (beast::error::timeout).
  template <class Start>
  error_code Run(Start&& start, std::chrono::milliseconds timeout) {
    error_code result;
    auto done = [&result](const error_code& e, std::size_t) { result = e; };
    Lowest().expires_after(timeout);
    if (tls_)
      start(*tls_stream_, done);
    else
      start(*tcp_stream_, done);
    ioc_.restart();
    ioc_.run();
    if (IsOpen()) Lowest().expires_never();
    return result;
  }

  // One request/response on the open connection. Sets *stale when the
  // connection turned out closed before any response byte arrived (the
  // server's idle timeout): only then may the request be replayed.
  Result<HttpResponse> Exchange(http::request<http::string_body>& req, bool* stale) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBufferedBody);
    parser.header_limit(kMaxHeaderBytes);
    if (req.method() == http::verb::head) parser.skip(true);

    error_code write_ec, read_ec;
    bool write_done = false, read_done = false;
    auto on_write = [&](const error_code& e, std::size_t) {
      write_done = true;
      write_ec = e;
    };
    auto on_read = [&](const error_code& e, std::size_t) {
      read_done = true;
      read_ec = e;
      // An early answer while the body is still going out: stop sending.
      if (!write_done) {
        error_code ignored;
        Lowest().socket().cancel(ignored);
      }
    };
    Lowest().expires_after(options_.request_timeout);
    if (tls_) {
      http::async_write(*tls_stream_, req, on_write);
      http::async_read(*tls_stream_, buffer_, parser, on_read);
    } else {
      http::async_write(*tcp_stream_, req, on_write);
      http::async_read(*tcp_stream_, buffer_, parser, on_read);
    }
    ioc_.restart();
    ioc_.run();
    (void)read_done;
    *stale = !parser.got_some() &&
             (read_ec == http::error::end_of_stream || read_ec == asio::error::eof ||
              read_ec == asio::error::connection_reset || read_ec == asio::error::broken_pipe ||
              read_ec == ssl::error::stream_truncated);

    if (read_ec) {
      Close();
      // A write error explains a read error better (e.g. refused mid-body).
      if (write_ec && !parser.got_some() && write_ec != asio::error::operation_aborted) {
        return FromError("send request", write_ec);
      }
      return FromError("read response", read_ec);
    }
    Lowest().expires_never();
    HttpResponse resp = ToResponse(parser.get());
    resp.body = std::move(parser.get().body());
    // Reuse only a connection whose request went out whole and that the
    // server keeps open.
    if (write_ec || !parser.keep_alive()) Close();
    return resp;
  }

  Status Fail(std::string_view what, const error_code& ec) {
    Close();
    return FromError(what, ec);
  }

  HttpClientOptions options_;
  Status parse_status_;
  bool tls_ = false;
  std::string host_, port_, host_header_, prefix_;
  asio::io_context ioc_;
  ssl::context ssl_ctx_;
  std::optional<beast::tcp_stream> tcp_stream_;
  std::optional<ssl::stream<beast::tcp_stream>> tls_stream_;
  beast::flat_buffer buffer_;
};

HttpClient::HttpClient(std::string base_url, HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(base_url), options)) {}

HttpClient::~HttpClient() = default;

Result<HttpResponse> HttpClient::Request(
    std::string_view method, std::string_view target, std::string_view body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  try {
    return impl_->Request(method, target, body, headers);
  } catch (const std::exception& e) {
    // Beast/Asio throw only on resource exhaustion here; keep the contract.
    return Status::IOError(std::string("http client: ") + e.what());
  }
}

Result<HttpResponse> HttpClient::Download(
    std::string_view target, const std::vector<std::pair<std::string, std::string>>& headers,
    const std::function<Status(std::string_view chunk)>& sink) {
  try {
    return impl_->Download(target, headers, sink);
  } catch (const std::exception& e) {
    return Status::IOError(std::string("http client: ") + e.what());
  }
}

}  // namespace stemedb::client
