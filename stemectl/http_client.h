// HttpClient: a small blocking HTTP/1.1 client on Boost.Beast, shared by
// stemectl and the end-to-end tests (tests/e2e link it too).
//
// One client = one keep-alive connection to one base URL ("http://host:port"
// or "https://host:port", TLS through OpenSSL with system CA verification).
// Reconnects transparently when the server closed the connection. Request()
// never throws: transport failures are a non-OK Status (Unavailable for
// connection refused/reset, so callers can retry). Not thread-safe: one
// client per thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace stemedb::client {

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercase names
  std::string body;
  // Value of a header (case-insensitive), "" if absent.
  std::string Header(std::string_view name) const;
};

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  bool verify_tls = true;
};

class HttpClient {
 public:
  explicit HttpClient(std::string base_url, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `target` is path + query ("/v1/query?subject=a"). Headers are sent as
  // given; Content-Type defaults to application/json when body is non-empty.
  Result<HttpResponse> Request(
      std::string_view method, std::string_view target, std::string_view body = {},
      const std::vector<std::pair<std::string, std::string>>& headers = {});

  // Streams a GET response body to `sink` chunk by chunk (bounded memory;
  // backups). Returns the response with an empty body. A sink returning a
  // non-OK Status aborts the transfer.
  Result<HttpResponse> Download(std::string_view target,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                const std::function<Status(std::string_view chunk)>& sink);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stemedb::client
