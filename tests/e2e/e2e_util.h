// Helpers shared by the end-to-end suites: JSON bodies, API-key provisioning
// through the admin API, error-shape checks, a raw TCP connection for hostile
// clients, and /proc readings of the server process.
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "stemectl/http_client.h"
#include "util/status.h"

namespace stemedb::e2e {

namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

// {"X-API-Key": key} (plus extra headers).
Headers Auth(const std::string& key, Headers extra = {});

// Parses a reply body; a null value if it is not JSON.
json::value ParseJson(const std::string& body);
// The string field `field` of a JSON object, "" if absent or not a string.
std::string Str(const json::value& v, const char* field);
// The docs/api.md error code of a reply ({"error":{"code":...}}), "" if absent.
std::string ErrorCode(const client::HttpResponse& r);
// "status 404 body {...}" for assertion messages.
std::string Describe(const client::HttpResponse& r);
std::string Describe(const Result<client::HttpResponse>& r);

struct ApiKey {
  std::string key;
  std::string key_id;
};
// POST /v1/admin/api-keys with `admin_key`; fails unless 201 with key+key_id.
Result<ApiKey> CreateKey(client::HttpClient& http, const std::string& admin_key,
                         const std::string& project, const std::string& role,
                         const std::string& label = "e2e");

// An assertion request body with the four required fields.
json::object Assertion(const std::string& subject, const std::string& predicate, json::value value,
                       const std::string& agent_id);
std::string Serialize(const json::value& v);

// POST /v1/assert; returns the reply (any status).
Result<client::HttpResponse> PostAssertion(client::HttpClient& http, const std::string& key,
                                           const json::object& assertion, Headers extra = {});

// A plain TCP connection for requests no well-behaved client would send.
class RawConnection {
 public:
  RawConnection() = default;
  ~RawConnection();
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  Status Connect(uint16_t port);
  // Writes all of `data`; IOError if the peer closed.
  Status Send(std::string_view data);
  // Reads what arrives within `timeout` until the peer closes or `max` bytes.
  std::string ReadFor(std::chrono::milliseconds timeout, size_t max = 1 << 20);
  // Reads until a full HTTP response head + Content-Length body arrived, the
  // peer closed, or the timeout passed.
  std::string ReadResponse(std::chrono::milliseconds timeout);
  // True if the peer closed (EOF or reset) within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout);
  void Close();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// Status code of the first response line in `raw` ("HTTP/1.1 400 ..."), 0 if none.
int StatusOf(const std::string& raw);

// Raises this process's RLIMIT_NOFILE soft limit to the hard limit (children
// inherit it): the idle-connection test opens thousands of sockets.
void RaiseFdLimit();
// VmRSS of `pid` in KiB, 0 if unreadable.
uint64_t RssKiB(pid_t pid);
// Number of open file descriptors of `pid`.
size_t FdCount(pid_t pid);

// Environment knob for a count (STEMEDB_CRASH_ROUNDS etc.).
int EnvInt(const char* name, int fallback);

}  // namespace stemedb::e2e
