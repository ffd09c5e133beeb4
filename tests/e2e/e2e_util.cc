#include "tests/e2e/e2e_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace stemedb::e2e {

Headers Auth(const std::string& key, Headers extra) {
  extra.emplace_back("X-API-Key", key);
  return extra;
}

json::value ParseJson(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return nullptr;
  return v;
}

std::string Str(const json::value& v, const char* field) {
  const json::value* f = v.is_object() ? v.as_object().if_contains(field) : nullptr;
  return f != nullptr && f->is_string() ? std::string(f->as_string()) : "";
}

std::string ErrorCode(const client::HttpResponse& r) {
  json::value v = ParseJson(r.body);
  if (!v.is_object()) return "";
  const json::value* err = v.as_object().if_contains("error");
  if (err == nullptr || !err->is_object()) return "";
  const json::value* code = err->as_object().if_contains("code");
  if (code == nullptr || !code->is_string()) return "";
  return std::string(code->as_string());
}

std::string Describe(const client::HttpResponse& r) {
  std::string body = r.body.size() > 600 ? r.body.substr(0, 600) + "..." : r.body;
  return "status " + std::to_string(r.status) + " body " + body;
}

std::string Describe(const Result<client::HttpResponse>& r) {
  return r ? Describe(*r) : "transport error: " + r.error().ToString();
}

Result<ApiKey> CreateKey(client::HttpClient& http, const std::string& admin_key,
                         const std::string& project, const std::string& role,
                         const std::string& label) {
  json::object body{{"label", label}, {"role", role}, {"project", project}};
  auto r = http.Request("POST", "/v1/admin/api-keys", Serialize(body), Auth(admin_key));
  if (!r) return r.error();
  if (r->status != 201) return Status::InvalidArgument("create key: " + Describe(*r));
  json::value v = ParseJson(r->body);
  if (!v.is_object()) return Status::InvalidArgument("create key: reply not JSON");
  const auto& o = v.as_object();
  const json::value* key = o.if_contains("key");
  const json::value* id = o.if_contains("key_id");
  if (key == nullptr || !key->is_string() || id == nullptr || !id->is_string()) {
    return Status::InvalidArgument("create key: no key/key_id in reply");
  }
  return ApiKey{std::string(key->as_string()), std::string(id->as_string())};
}

json::object Assertion(const std::string& subject, const std::string& predicate, json::value value,
                       const std::string& agent_id) {
  return json::object{{"subject", subject},
                      {"predicate", predicate},
                      {"value", std::move(value)},
                      {"agent_id", agent_id}};
}

std::string Serialize(const json::value& v) { return json::serialize(v); }

Result<client::HttpResponse> PostAssertion(client::HttpClient& http, const std::string& key,
                                           const json::object& assertion, Headers extra) {
  return http.Request("POST", "/v1/assert", Serialize(assertion), Auth(key, std::move(extra)));
}

RawConnection::~RawConnection() { Close(); }

RawConnection::RawConnection(RawConnection&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Status RawConnection::Connect(uint16_t port) {
  Close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return Status::FromErrno("socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Status st = Status::FromErrno("connect", errno);
    Close();
    return st;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return Status::OK();
}

Status RawConnection::Send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("send", errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

namespace {

// Waits for readability up to the deadline; false on timeout.
bool WaitReadable(int fd, std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() < 0) return false;
  pollfd p{fd, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(left.count()));
  return r > 0;
}

}  // namespace

std::string RawConnection::ReadFor(std::chrono::milliseconds timeout, size_t max) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (out.size() < max && WaitReadable(fd_, deadline)) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string RawConnection::ReadResponse(std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (WaitReadable(fd_, deadline)) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    const size_t head_end = out.find("\r\n\r\n");
    if (head_end == std::string::npos) continue;
    std::string head = out.substr(0, head_end);
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t cl = head.find("content-length:");
    if (cl == std::string::npos) {
      if (head.find("transfer-encoding: chunked") != std::string::npos) {
        if (out.find("\r\n0\r\n\r\n", head_end) != std::string::npos) break;
        continue;
      }
      break;
    }
    size_t len = std::strtoull(head.c_str() + cl + 15, nullptr, 10);
    if (out.size() >= head_end + 4 + len) break;
  }
  return out;
}

bool RawConnection::WaitClosed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (WaitReadable(fd_, deadline)) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR && errno != EAGAIN) return true;
  }
  return false;
}

void RawConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int StatusOf(const std::string& raw) {
  if (!raw.starts_with("HTTP/1.")) return 0;
  size_t sp = raw.find(' ');
  if (sp == std::string::npos) return 0;
  return std::atoi(raw.c_str() + sp + 1);
}

void RaiseFdLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

uint64_t RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

size_t FdCount(pid_t pid) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::atoi(v);
}

}  // namespace stemedb::e2e
