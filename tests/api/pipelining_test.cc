// HTTP/1.1 pipelining in the transport (api/session.h "PIPELINING"), against
// a handler that holds its replies, over a real loopback socket: pipelined
// writes are in flight together and answered in request order whatever
// order they complete in; a read waits for the writes before it; the depth
// is bounded; an interim 100 Continue and a parse error wait their turn; a
// drain answers what is in flight and closes. The same over TLS, where a
// read and a write are pending on one ssl::stream at once.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "api/server.h"

namespace stemedb::api {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// /w/<n>: a write (Overlap::kWrite); its reply waits until the test lets it
// go (Release) or, after `hold_limit`, goes by itself so a test that fails
// does not hang. /r/<n>: a read (kRead), answered at once. Anything else:
// kNone, answered at once. Every reply body is "<target>".
class HoldingHandler : public Handler {
 public:
  explicit HoldingHandler(std::chrono::milliseconds hold_limit) : hold_limit_(hold_limit) {
    replier_ = std::thread([this] { Reply(); });
  }
  ~HoldingHandler() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    replier_.join();
  }

  Overlap Classify(const Request& req) const override {
    const std::string_view target = req.target();
    if (target.starts_with("/w/")) return Overlap::kWrite;
    if (target.starts_with("/r/")) return Overlap::kRead;
    return Overlap::kNone;
  }

  void Handle(Request req, std::shared_ptr<RequestMeta> meta, ReplyFn reply, StreamFn) override {
    std::string target(req.target());
    meta->route = target;
    Response res{http::status::ok, req.version()};
    res.body() = target;
    res.keep_alive(req.keep_alive());
    std::unique_lock<std::mutex> lock(mu_);
    handled_.push_back(target + (held_.empty() ? "" : " while " + held_.front().target));
    next_waiting_.push_back(meta->next_request_waiting);
    if (!target.starts_with("/w/")) {
      lock.unlock();
      return reply(std::move(res));
    }
    held_.push_back({target, std::move(res), std::move(reply), Clock::now() + hold_limit_});
    max_held_ = std::max(max_held_, held_.size());
    cv_.notify_all();
  }

  // Waits until `n` writes are held (or 5 s); returns how many are.
  size_t WaitHeld(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, 5s, [&] { return held_.size() >= n; });
    return held_.size();
  }
  // Replies to the held writes, the newest first.
  void ReleaseNewestFirst() {
    std::lock_guard<std::mutex> lock(mu_);
    release_newest_first_ = true;
    cv_.notify_all();
  }
  // Replies to every write as soon as it is held, oldest first.
  void ReleaseAll() {
    std::lock_guard<std::mutex> lock(mu_);
    release_all_ = true;
    cv_.notify_all();
  }
  size_t max_held() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_held_;
  }
  std::vector<std::string> handled() {
    std::lock_guard<std::mutex> lock(mu_);
    return handled_;
  }
  // RequestMeta::next_request_waiting of each request handled.
  std::vector<bool> next_waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return next_waiting_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Held {
    std::string target;
    Response res;
    ReplyFn reply;
    Clock::time_point deadline;
  };

  // The replies come from this thread, as the engine's come from its apply
  // thread.
  void Reply() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      std::vector<Held> out;
      if (release_newest_first_ || release_all_) {
        while (!held_.empty()) {
          if (release_newest_first_) {
            out.push_back(std::move(held_.back()));
            held_.pop_back();
          } else {
            out.push_back(std::move(held_.front()));
            held_.pop_front();
          }
        }
        release_newest_first_ = false;
      } else if (!held_.empty() && Clock::now() >= held_.front().deadline) {
        out.push_back(std::move(held_.front()));
        held_.pop_front();
      }
      if (out.empty()) {
        cv_.wait_for(lock, 10ms);
        continue;
      }
      lock.unlock();
      for (Held& h : out) h.reply(std::move(h.res));
      lock.lock();
    }
  }

  const std::chrono::milliseconds hold_limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Held> held_;
  std::vector<std::string> handled_;
  std::vector<bool> next_waiting_;
  size_t max_held_ = 0;
  bool release_newest_first_ = false;
  bool release_all_ = false;
  bool stop_ = false;
  std::thread replier_;
};

// Writes a fresh self-signed certificate and its key (EC P-256) under `dir`.
void WriteSelfSignedCert(const std::string& dir) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  ASSERT_NE(cert, nullptr);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  FILE* c = fopen((dir + "/cert.pem").c_str(), "w");
  FILE* k = fopen((dir + "/key.pem").c_str(), "w");
  ASSERT_TRUE(c != nullptr && k != nullptr);
  PEM_write_X509(c, cert);
  PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(c);
  fclose(k);
  X509_free(cert);
  EVP_PKEY_free(key);
}

class PipeliningTest : public ::testing::Test {
 protected:
  void Start(size_t depth = 16, std::chrono::milliseconds hold_limit = 3000ms,
             const std::string& tls_dir = "") {
    handler_ = std::make_shared<HoldingHandler>(hold_limit);
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.transport.max_pipeline_depth = depth;
    if (!tls_dir.empty()) {
      options.tls_cert_path = tls_dir + "/cert.pem";
      options.tls_key_path = tls_dir + "/key.pem";
    }
    server_ = std::make_unique<Server>(options, nullptr);
    ASSERT_TRUE(server_->Listen().ok());
    server_->set_handler(handler_);
    server_->Start();
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }
  tcp::socket Connect() {
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
    return s;
  }
  static std::string Post(const std::string& target, const std::string& extra = "") {
    return "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n" + extra + "\r\n";
  }
  static std::string Get(const std::string& target) {
    return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  static http::response<http::string_body> Read(tcp::socket& s, beast::flat_buffer& buf) {
    http::response<http::string_body> res;
    http::read(s, buf, res);
    return res;
  }
  static bool ClosedByPeer(tcp::socket& s, beast::flat_buffer& buf) {
    if (buf.size() > 0) return false;
    char c;
    boost::system::error_code ec;
    s.read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

  net::io_context ioc_;
  std::shared_ptr<HoldingHandler> handler_;
  std::unique_ptr<Server> server_;
};

TEST_F(PipeliningTest, WritesAreInFlightTogetherAndAnsweredInRequestOrder) {
  Start();
  auto s = Connect();
  std::string all;
  for (int i = 0; i < 8; ++i) all += Post("/w/" + std::to_string(i));
  net::write(s, net::buffer(all));
  // Handled one at a time, the second would never be held before the first
  // is answered.
  ASSERT_EQ(handler_->WaitHeld(8), 8u);
  handler_->ReleaseNewestFirst();
  beast::flat_buffer buf;
  for (int i = 0; i < 8; ++i) {
    auto res = Read(s, buf);
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "/w/" + std::to_string(i));
    EXPECT_TRUE(res.keep_alive());
  }
  EXPECT_EQ(handler_->max_held(), 8u);
  // Sent in one write, each but the last had its successor waiting: their
  // WAL commits may be shared (wal::AppendHint::kMoreFollows).
  std::vector<bool> waiting(8, true);
  waiting.back() = false;
  EXPECT_EQ(handler_->next_waiting(), waiting);
}

TEST_F(PipeliningTest, ReadWaitsForTheWritesBeforeIt) {
  Start();
  auto s = Connect();
  net::write(s, net::buffer(Post("/w/1") + Post("/w/2") + Get("/r/after") + Post("/w/3")));
  ASSERT_EQ(handler_->WaitHeld(2), 2u);
  std::this_thread::sleep_for(100ms);  // room for a wrong early dispatch
  EXPECT_EQ(handler_->handled(), (std::vector<std::string>{"/w/1", "/w/2 while /w/1"}));
  handler_->ReleaseAll();
  beast::flat_buffer buf;
  for (const char* want : {"/w/1", "/w/2", "/r/after", "/w/3"})
    EXPECT_EQ(Read(s, buf).body(), want);
  // The read was handled with no write in flight.
  const auto handled = handler_->handled();
  ASSERT_EQ(handled.size(), 4u);
  EXPECT_EQ(handled[2], "/r/after");
}

TEST_F(PipeliningTest, OtherRequestsWaitForAnEmptyQueue) {
  Start();
  auto s = Connect();
  net::write(s, net::buffer(Post("/w/1") + Post("/admin") + Post("/w/2")));
  ASSERT_EQ(handler_->WaitHeld(1), 1u);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(handler_->handled(), (std::vector<std::string>{"/w/1"}));
  handler_->ReleaseAll();
  beast::flat_buffer buf;
  for (const char* want : {"/w/1", "/admin", "/w/2"}) EXPECT_EQ(Read(s, buf).body(), want);
}

TEST_F(PipeliningTest, DepthIsBounded) {
  Start(/*depth=*/4, /*hold_limit=*/50ms);
  auto s = Connect();
  std::string all;
  for (int i = 0; i < 20; ++i) all += Post("/w/" + std::to_string(i));
  net::write(s, net::buffer(all));
  beast::flat_buffer buf;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Read(s, buf).body(), "/w/" + std::to_string(i));
  EXPECT_EQ(handler_->max_held(), 4u);
}

TEST_F(PipeliningTest, DepthOneHandlesOneAtATime) {
  Start(/*depth=*/1, /*hold_limit=*/50ms);
  auto s = Connect();
  net::write(s, net::buffer(Post("/w/1") + Post("/w/2") + Post("/w/3")));
  beast::flat_buffer buf;
  for (const char* want : {"/w/1", "/w/2", "/w/3"}) EXPECT_EQ(Read(s, buf).body(), want);
  EXPECT_EQ(handler_->max_held(), 1u);
}

TEST_F(PipeliningTest, GarbageIsAnsweredAfterTheRequestsBeforeIt) {
  Start();
  auto s = Connect();
  net::write(s, net::buffer(Post("/w/1") + Post("/w/2") + "NOT HTTP\r\n\r\n"));
  ASSERT_EQ(handler_->WaitHeld(2), 2u);
  handler_->ReleaseNewestFirst();
  beast::flat_buffer buf;
  EXPECT_EQ(Read(s, buf).body(), "/w/1");
  auto second = Read(s, buf);
  EXPECT_EQ(second.body(), "/w/2");
  EXPECT_TRUE(second.keep_alive());
  auto bad = Read(s, buf);
  EXPECT_EQ(bad.result_int(), 400);
  EXPECT_FALSE(bad.keep_alive());
  EXPECT_TRUE(ClosedByPeer(s, buf));
}

TEST_F(PipeliningTest, ContinueWaitsForTheRepliesBeforeIt) {
  Start();
  auto s = Connect();
  net::write(s, net::buffer(Post("/w/1") + "POST /w/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                           "Expect: 100-continue\r\n\r\n"));
  ASSERT_EQ(handler_->WaitHeld(1), 1u);
  handler_->ReleaseAll();
  beast::flat_buffer buf;
  // The first reply comes before the interim one, never after it.
  EXPECT_EQ(Read(s, buf).body(), "/w/1");
  http::response_parser<http::empty_body> interim;
  http::read_header(s, buf, interim);
  EXPECT_EQ(interim.get().result_int(), 100);
  net::write(s, net::buffer(std::string("abc")));
  EXPECT_EQ(Read(s, buf).body(), "/w/2");
}

TEST_F(PipeliningTest, ConnectionCloseEndsThePipeline) {
  Start();
  auto s = Connect();
  net::write(s, net::buffer(Post("/w/1") + Post("/w/2", "Connection: close\r\n") + Post("/w/3")));
  ASSERT_EQ(handler_->WaitHeld(2), 2u);
  handler_->ReleaseAll();
  beast::flat_buffer buf;
  EXPECT_TRUE(Read(s, buf).keep_alive());
  auto last = Read(s, buf);
  EXPECT_EQ(last.body(), "/w/2");
  EXPECT_FALSE(last.keep_alive());
  EXPECT_TRUE(ClosedByPeer(s, buf));  // /w/3 was never read
  EXPECT_EQ(handler_->handled().size(), 2u);
}

TEST_F(PipeliningTest, HalfCloseStillGetsEveryReply) {
  Start();
  auto s = Connect();
  net::write(s, net::buffer(Post("/w/1") + Post("/w/2")));
  s.shutdown(tcp::socket::shutdown_send);
  ASSERT_EQ(handler_->WaitHeld(2), 2u);
  handler_->ReleaseAll();
  beast::flat_buffer buf;
  EXPECT_EQ(Read(s, buf).body(), "/w/1");
  auto last = Read(s, buf);
  EXPECT_EQ(last.body(), "/w/2");
  EXPECT_FALSE(last.keep_alive());
  EXPECT_TRUE(ClosedByPeer(s, buf));
}

TEST_F(PipeliningTest, DrainAnswersWhatIsInFlightThenCloses) {
  Start();
  auto s = Connect();
  net::write(s, net::buffer(Post("/w/1") + Post("/w/2")));
  ASSERT_EQ(handler_->WaitHeld(2), 2u);
  std::thread releaser([this] {
    std::this_thread::sleep_for(200ms);  // let the drain begin
    handler_->ReleaseAll();
  });
  EXPECT_TRUE(server_->Shutdown(10s));
  releaser.join();
  beast::flat_buffer buf;
  auto first = Read(s, buf);
  EXPECT_EQ(first.body(), "/w/1");
  EXPECT_TRUE(first.keep_alive());  // another reply follows it
  auto last = Read(s, buf);
  EXPECT_EQ(last.body(), "/w/2");
  EXPECT_FALSE(last.keep_alive());
  EXPECT_TRUE(ClosedByPeer(s, buf));
}

TEST_F(PipeliningTest, OverTls) {
  char tmpl[] = "/tmp/stemedb-tls-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  WriteSelfSignedCert(dir);
  Start(16, 3000ms, dir);
  net::ssl::context ctx(net::ssl::context::tls_client);
  ctx.set_verify_mode(net::ssl::verify_none);
  net::ssl::stream<tcp::socket> s(ioc_, ctx);
  s.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
  s.handshake(net::ssl::stream_base::client);
  std::string all;
  for (int i = 0; i < 6; ++i) all += Post("/w/" + std::to_string(i));
  all += Get("/r/after");
  net::write(s, net::buffer(all));
  ASSERT_EQ(handler_->WaitHeld(6), 6u);
  handler_->ReleaseNewestFirst();
  beast::flat_buffer buf;
  for (int i = 0; i < 6; ++i) {
    http::response<http::string_body> res;
    http::read(s, buf, res);
    EXPECT_EQ(res.body(), "/w/" + std::to_string(i));
  }
  http::response<http::string_body> read;
  http::read(s, buf, read);
  EXPECT_EQ(read.body(), "/r/after");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace stemedb::api
