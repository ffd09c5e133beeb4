// HttpClient (stemectl/http_client.h) against a scripted socket peer: keep-
// alive reuse, reconnect after the server closed, timeouts, refused
// connections, early replies to a large upload, and streamed downloads.
#include "stemectl/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include "tests/e2e/server_process.h"

namespace stemedb::client {
namespace {

using namespace std::chrono_literals;

// Listens on a loopback port and runs `script(fd)` for each accepted
// connection, one after the other, on its own thread.
class ScriptedPeer {
 public:
  explicit ScriptedPeer(std::function<void(int fd)> script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 16);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd < 0 || stop_) {
          if (fd >= 0) ::close(fd);
          return;
        }
        ++accepted_;
        script_(fd);
        ::close(fd);
      }
    });
  }
  ~ScriptedPeer() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_; }

 private:
  std::function<void(int)> script_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Reads one request head (up to the blank line); "" on EOF.
std::string ReadHead(int fd) {
  std::string head;
  char c;
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (::recv(fd, &c, 1, 0) != 1) return "";
    head += c;
  }
  return head;
}

// Reads and discards a Content-Length body announced in `head`.
void DrainBody(int fd, const std::string& head) {
  size_t p = head.find("Content-Length: ");
  if (p == std::string::npos) p = head.find("content-length: ");
  if (p == std::string::npos) return;
  size_t left = std::stoul(head.substr(p + 16));
  char buf[65536];
  while (left > 0) {
    ssize_t n = ::recv(fd, buf, std::min(left, sizeof buf), 0);
    if (n <= 0) return;
    left -= static_cast<size_t>(n);
  }
}

void SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Test: yes\r\n\r\nok";

TEST(HttpClient, RefusedIsUnavailable) {
  HttpClient http("http://127.0.0.1:" + std::to_string(e2e::PickFreePort()));
  auto r = http.Request("GET", "/v1/health");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Status::Code::kUnavailable) << r.error().ToString();
}

TEST(HttpClient, BadUrlIsInvalidArgument) {
  for (const char* url : {"ftp://x", "http://", "http://host:99999", "http://host:abc"}) {
    HttpClient http(url);
    auto r = http.Request("GET", "/");
    ASSERT_FALSE(r) << url;
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument) << url;
  }
}

TEST(HttpClient, KeepAliveReusesOneConnection) {
  std::string seen;
  ScriptedPeer peer([&](int fd) {
    for (int i = 0; i < 3; ++i) {
      std::string head = ReadHead(fd);
      if (head.empty()) return;
      seen += head;
      DrainBody(fd, head);
      SendAll(fd, kOk);
    }
  });
  HttpClient http(peer.url());
  for (int i = 0; i < 3; ++i) {
    auto r = http.Request("POST", "/x", "{}", {{"X-Api-Key", "k"}});
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
    EXPECT_EQ(r->Header("x-TEST"), "yes");
  }
  EXPECT_EQ(peer.accepted(), 1);
  EXPECT_NE(seen.find("Content-Type: application/json"), std::string::npos) << seen;
}

TEST(HttpClient, ReconnectsWhenServerClosedIdleConnection) {
  ScriptedPeer peer([](int fd) {
    std::string head = ReadHead(fd);
    if (!head.empty()) SendAll(fd, kOk);  // then close: an idle timeout
  });
  HttpClient http(peer.url());
  for (int i = 0; i < 3; ++i) {
    auto r = http.Request("GET", "/x");
    ASSERT_TRUE(r) << "request " << i << ": " << r.error().ToString();
    EXPECT_EQ(r->status, 200);
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(peer.accepted(), 3);
}

TEST(HttpClient, SilentServerTimesOut) {
  ScriptedPeer peer([](int fd) {
    ReadHead(fd);
    std::this_thread::sleep_for(1500ms);
  });
  HttpClientOptions opts;
  opts.request_timeout = 300ms;
  HttpClient http(peer.url(), opts);
  const auto start = std::chrono::steady_clock::now();
  auto r = http.Request("GET", "/x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Status::Code::kUnavailable) << r.error().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1400ms) << "timeout not enforced";
}

TEST(HttpClient, EarlyReplyToLargeUploadIsReturned) {
  ScriptedPeer peer([](int fd) {
    ReadHead(fd);
    SendAll(fd,
            "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig");
    ::shutdown(fd, SHUT_WR);
    std::this_thread::sleep_for(200ms);
  });
  HttpClient http(peer.url());
  auto r = http.Request("POST", "/x", std::string(8 << 20, 'x'));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, "big");
}

TEST(HttpClient, DownloadStreamsChunkedBody) {
  std::string expected;
  for (int i = 0; i < 300; ++i) expected += std::string(4000, static_cast<char>('a' + i % 26));
  ScriptedPeer peer([&](int fd) {
    ReadHead(fd);
    SendAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t off = 0; off < expected.size(); off += 4000) {
      char size[16];
      std::snprintf(size, sizeof size, "%x\r\n", 4000);
      SendAll(fd, size + expected.substr(off, 4000) + "\r\n");
    }
    SendAll(fd, "0\r\n\r\n");
  });
  HttpClient http(peer.url());
  std::string got;
  size_t calls = 0;
  auto r = http.Download("/backup", {}, [&](std::string_view chunk) {
    got.append(chunk);
    ++calls;
    return Status::OK();
  });
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(got, expected);
  EXPECT_GT(calls, 1u) << "the body was not streamed";

  // A sink error aborts the transfer with that error.
  ScriptedPeer peer2([&](int fd) {
    ReadHead(fd);
    SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'z'));
  });
  HttpClient http2(peer2.url());
  auto aborted =
      http2.Download("/backup", {}, [](std::string_view) { return Status::NoSpace("disk full"); });
  ASSERT_FALSE(aborted);
  EXPECT_EQ(aborted.error().code(), Status::Code::kNoSpace);
}

}  // namespace
}  // namespace stemedb::client
