// The seam between the HTTP transport (server.h/session.h: sockets, parsing,
// timeouts, body limits, logging, metrics) and the application (router.h:
// routes, auth, validation, engine calls). The transport never looks at a
// route's meaning; the router never touches a socket. So the router is tested
// without a network, and the transport with a trivial handler.
#pragma once

#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <string>

namespace stemedb::api {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Filled by the router while handling; read by the transport for the request
// log line and the route-labelled metrics (route templates, never raw paths).
struct RequestMeta {
  std::string route = "unmatched";  // e.g. "/v1/assertions/{id}"
  std::string key_id;               // "" if unauthenticated
  std::string project;              // "" if none
  uint64_t assertions_written = 0;
  // Set by the transport before Handle: the connection's next request has
  // already arrived and may be handled right after this one (HTTP/1.1
  // pipelining), so a write may leave its WAL commit to be shared with it
  // (wal::AppendHint::kMoreFollows).
  bool next_request_waiting = false;
};

// Streams a large reply (GET /v1/admin/backup) without buffering it: the
// transport sends `head` (chunked), then calls `produce` on a thread of its
// own, which it joins before it stops (api/stream_jobs.h); `produce` calls
// `write(chunk)` for each chunk until done. A false return from write means
// the client went away or the server is stopping: stop producing.
struct StreamingReply {
  Response head;  // status + headers; body ignored
  std::function<bool(const std::function<bool(std::string_view chunk)>& write)> produce;
};

// Called exactly once per request, from any thread (writes complete on the
// engine's apply thread; the transport posts back to the connection's executor).
using ReplyFn = std::function<void(Response)>;
using StreamFn = std::function<void(StreamingReply)>;

// Which requests of one connection may be in flight together (HTTP/1.1
// pipelining). The transport always answers in request order; it hands a
// pipelined request to the handler before the earlier ones are answered only
// if all of them are of the same class, and that class is not kNone.
enum class Overlap {
  kNone,   // waits until every earlier request is answered
  kRead,   // safe: its answer does not depend on other reads in flight
  kWrite,  // its effect is ordered by the handler in call order (the WAL's
           // LSNs), so it may be called before earlier writes commit
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Called on the connection's I/O thread before Handle, for every request
  // (a later one may arrive while this one is in flight). Must be cheap.
  virtual Overlap Classify(const Request& request) const {
    (void)request;
    return Overlap::kNone;
  }
  // `meta` lives until the reply has been sent. Exactly one of `reply` or
  // `stream` is called, exactly once.
  virtual void Handle(Request request, std::shared_ptr<RequestMeta> meta, ReplyFn reply,
                      StreamFn stream) = 0;
};

}  // namespace stemedb::api
