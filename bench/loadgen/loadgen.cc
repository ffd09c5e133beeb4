// stemedb_loadgen: a closed-loop load generator for StemeDB, etcd and Redis.
//
// N keep-alive connections (Asio, `--threads` I/O threads), each sending one
// request, waiting for its reply, and sending the next, for a fixed duration
// after a warmup. With `--pipeline N` each connection sends N requests in
// one write and reads the N replies before it sends the next N (as
// redis-benchmark -P does); each request's latency runs from that write. Every request writes a
// unique value. Latencies of every request after the warmup are kept (a few MB at these rates), so
// percentiles are exact rather than bucketed. Prints one JSON object.
//
//   stemedb_loadgen --target stemedb --port 18180 --workload assert
//       --connections 64 --duration 10      (key from $STEMEDB_KEY or --key)
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/loadgen/workload.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace po = boost::program_options;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace stemedb::bench {
namespace {

struct ConnectionStats {
  std::vector<uint64_t> latencies_ns;
  uint64_t errors = 0;
  uint64_t requests = 0;
  std::vector<std::string> written_keys;
  std::string first_error;
};

struct RunPlan {
  Clock::time_point measure_from;
  Clock::time_point end;
  uint64_t max_requests_per_connection = UINT64_MAX;  // preload uses a count
  bool collect_keys = false;
  size_t pipeline = 1;  // requests per write
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, const tcp::resolver::results_type& endpoints,
             const WorkloadOptions& options, uint32_t index, const RunPlan& plan,
             ConnectionStats& stats)
      : socket_(io),
        endpoints_(endpoints),
        workload_(options, index),
        target_(options.target),
        plan_(plan),
        stats_(stats) {}

  void Start() {
    asio::async_connect(socket_, endpoints_,
                        [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
                          if (ec) return self->Fail("connect: " + ec.message());
                          self->socket_.set_option(tcp::no_delay(true));
                          self->Send();
                        });
  }

 private:
  void Send() {
    if (Clock::now() >= plan_.end || sent_ >= plan_.max_requests_per_connection) return;
    started_ = Clock::now();
    out_.clear();
    awaiting_ = 0;
    do {
      ++sent_;
      ++awaiting_;
      out_ += workload_.NextRequest();
    } while (awaiting_ < plan_.pipeline && sent_ < plan_.max_requests_per_connection);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Fail("write: " + ec.message());
                        if (self->target_ == Target::kRedis) {
                          self->ReadRedisLine();
                        } else {
                          self->ReadHttp();
                        }
                      });
  }

  void ReadHttp() {
    response_ = {};
    http::async_read(socket_, buffer_, response_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Fail("read: " + ec.message());
                       bool ok = self->response_.result_int() == self->workload_.expected_status();
                       self->Done(ok, self->response_.body(),
                                  ok ? ""
                                     : "HTTP " + std::to_string(self->response_.result_int()) +
                                           " " + self->response_.body().substr(0, 200));
                     });
  }

  void ReadRedisLine() {
    asio::async_read_until(socket_, asio::dynamic_buffer(redis_), "\r\n",
                           [self = shared_from_this()](beast::error_code ec, size_t line_end) {
                             if (ec) return self->Fail("read: " + ec.message());
                             std::string line = self->redis_.substr(0, line_end - 2);
                             if (line.empty() || line[0] == '-') {
                               self->redis_.erase(0, line_end);
                               return self->Done(false, "", "redis: " + line);
                             }
                             if (line[0] != '$' || line == "$-1") {
                               self->redis_.erase(0, line_end);
                               return self->Done(line != "$-1", "", "redis: missing key");
                             }
                             size_t need = line_end + std::stoul(line.substr(1)) + 2;
                             self->ReadRedisBulk(need);
                           });
  }

  void ReadRedisBulk(size_t need) {
    if (redis_.size() >= need) {
      redis_.erase(0, need);
      return Done(true, "", "");
    }
    asio::async_read(socket_, asio::dynamic_buffer(redis_),
                     asio::transfer_exactly(need - redis_.size()),
                     [self = shared_from_this(), need](beast::error_code ec, size_t) {
                       if (ec) return self->Fail("read: " + ec.message());
                       self->ReadRedisBulk(need);
                     });
  }

  void Done(bool ok, const std::string& body, const std::string& error) {
    const auto now = Clock::now();
    if (started_ >= plan_.measure_from) {
      ++stats_.requests;
      if (ok) {
        stats_.latencies_ns.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - started_).count());
      } else {
        ++stats_.errors;
        if (stats_.first_error.empty()) stats_.first_error = error;
      }
    }
    if (ok && plan_.collect_keys) {
      std::string key = workload_.WrittenKey(body);
      if (!key.empty()) stats_.written_keys.push_back(std::move(key));
    }
    if (--awaiting_ == 0) return Send();
    if (target_ == Target::kRedis) return ReadRedisLine();
    ReadHttp();
  }

  void Fail(const std::string& what) {
    ++stats_.errors;
    if (stats_.first_error.empty()) stats_.first_error = what;
  }

  tcp::socket socket_;
  tcp::resolver::results_type endpoints_;
  Workload workload_;
  Target target_;
  const RunPlan& plan_;
  ConnectionStats& stats_;
  beast::flat_buffer buffer_;
  http::response<http::string_body> response_;
  std::string out_;      // the requests of one write
  size_t awaiting_ = 0;  // their replies not yet read
  std::string redis_;
  Clock::time_point started_;
  uint64_t sent_ = 0;
};

std::vector<ConnectionStats> Run(const WorkloadOptions& options, const std::string& port,
                                 size_t connections, size_t threads, const RunPlan& plan) {
  asio::io_context io;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(options.host, port);
  std::vector<ConnectionStats> stats(connections);
  for (size_t i = 0; i < connections; ++i) {
    std::make_shared<Connection>(io, endpoints, options, static_cast<uint32_t>(i), plan, stats[i])
        ->Start();
  }
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  return stats;
}

double Percentile(const std::vector<uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t index = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1));
  return static_cast<double>(sorted[index]) / 1e6;  // ms
}

}  // namespace
}  // namespace stemedb::bench

int main(int argc, char** argv) {
  using namespace stemedb::bench;
  po::options_description desc("stemedb_loadgen");
  std::string target, workload, host, port, key;
  size_t connections, threads, value_bytes, batch, preload, pipeline;
  double duration, warmup;
  desc.add_options()("help", "this text")("target", po::value(&target)->default_value("stemedb"),
                                          "stemedb | etcd | redis")(
      "workload", po::value(&workload)->default_value("assert"),
      "stemedb: assert|batch|get|query; etcd: put|txn|get; redis: set|mset|get")(
      "host", po::value(&host)->default_value("127.0.0.1"), "")(
      "port", po::value(&port)->default_value("18180"), "")(
      "key", po::value(&key)->default_value(""), "StemeDB API key (or env STEMEDB_KEY)")(
      "connections", po::value(&connections)->default_value(64), "")(
      "threads", po::value(&threads)->default_value(1), "loadgen I/O threads")(
      "duration", po::value(&duration)->default_value(10), "measured seconds")(
      "warmup", po::value(&warmup)->default_value(1), "seconds not measured")(
      "value-bytes", po::value(&value_bytes)->default_value(100), "")(
      "batch", po::value(&batch)->default_value(100), "assertions per batch request")(
      "preload", po::value(&preload)->default_value(5000), "writes before a read workload")(
      "pipeline", po::value(&pipeline)->default_value(1),
      "requests per connection per write (HTTP/1.1 pipelining, RESP pipelining)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (key.empty() && std::getenv("STEMEDB_KEY")) key = std::getenv("STEMEDB_KEY");
  WorkloadOptions options;
  options.target = target == "etcd"    ? Target::kEtcd
                   : target == "redis" ? Target::kRedis
                                       : Target::kStemeDb;
  options.name = workload;
  options.host = host;
  options.api_key = key;
  options.value_bytes = value_bytes;
  options.batch_size = batch;
  try {
    const bool reads = workload == "get" || workload == "query";
    if (reads) {
      WorkloadOptions writer = options;
      writer.name = options.target == Target::kStemeDb ? "assert"
                    : options.target == Target::kEtcd  ? "put"
                                                       : "set";
      const size_t preload_connections = std::min<size_t>(16, std::max<size_t>(1, preload));
      RunPlan plan{Clock::now(), Clock::now() + std::chrono::minutes(10),
                   (preload + preload_connections - 1) / preload_connections, true};
      auto stats = Run(writer, port, preload_connections, threads, plan);
      auto keys = std::make_shared<std::vector<std::string>>();
      for (auto& s : stats) {
        for (auto& k : s.written_keys) {
          auto tab = k.find('\t');
          if (tab == std::string::npos) {
            keys->push_back(k);
          } else {
            keys->push_back(workload == "get" ? k.substr(0, tab) : k.substr(tab + 1));
          }
        }
      }
      if (keys->empty()) {
        std::cerr << "preload wrote nothing: " << stats[0].first_error << "\n";
        return 1;
      }
      options.read_keys = keys;
    }
    const auto start = Clock::now();
    RunPlan plan{
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup)),
        start + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(warmup + duration))};
    plan.pipeline = std::max<size_t>(pipeline, 1);
    auto stats = Run(options, port, connections, threads, plan);
    std::vector<uint64_t> all;
    uint64_t requests = 0, errors = 0;
    std::string first_error;
    for (auto& s : stats) {
      all.insert(all.end(), s.latencies_ns.begin(), s.latencies_ns.end());
      requests += s.requests;
      errors += s.errors;
      if (first_error.empty()) first_error = s.first_error;
    }
    std::sort(all.begin(), all.end());
    const double ok = static_cast<double>(all.size());
    const bool batched = workload == "batch" || workload == "txn" || workload == "mset";
    const double items = batched ? ok * static_cast<double>(batch) : ok;
    json::object out{{"target", target},
                     {"workload", workload},
                     {"connections", connections},
                     {"pipeline", std::max<size_t>(pipeline, 1)},
                     {"duration_s", duration},
                     {"requests", requests},
                     {"errors", errors},
                     {"requests_per_s", ok / duration},
                     {"items_per_s", items / duration},
                     {"p50_ms", Percentile(all, 0.50)},
                     {"p99_ms", Percentile(all, 0.99)},
                     {"p999_ms", Percentile(all, 0.999)},
                     {"max_ms", all.empty() ? 0.0 : static_cast<double>(all.back()) / 1e6}};
    if (!first_error.empty()) out["first_error"] = first_error;
    std::cout << json::serialize(out) << std::endl;
    return errors > requests / 100 ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "stemedb_loadgen: " << e.what() << "\n";
    return 1;
  }
}
