// Workloads of the load generator: how to phrase one request for each
// target (StemeDB over HTTP, etcd's JSON gateway over HTTP, Redis over RESP)
// and how to tell a successful reply. One Workload object per connection.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace stemedb::bench {

enum class Target { kStemeDb, kEtcd, kRedis };

struct WorkloadOptions {
  Target target = Target::kStemeDb;
  std::string name = "assert";  // assert | batch | get | query (StemeDB); put | get (etcd, Redis)
  std::string host = "127.0.0.1";
  std::string api_key;       // StemeDB
  size_t value_bytes = 100;  // payload size of each written value
  size_t batch_size = 100;   // assertions per batch request
  // Keys/ids/subjects written by the preload phase, read by read workloads.
  std::shared_ptr<const std::vector<std::string>> read_keys;
};

class Workload {
 public:
  Workload(const WorkloadOptions& options, uint32_t connection_index);
  // The bytes of the next request (a whole HTTP/1.1 request or RESP command).
  const std::string& NextRequest();
  // For HTTP targets: the status a successful reply has.
  unsigned expected_status() const { return expected_status_; }
  // For the preload: the key/id this request wrote, extracted from its reply
  // (StemeDB returns the id; etcd and Redis keys are ours).
  std::string WrittenKey(const std::string& reply_body) const;
  bool writes() const { return writes_; }

 private:
  std::string HttpRequest(const std::string& method, const std::string& target,
                          const std::string& body) const;
  std::string Value(uint64_t seq) const;

  WorkloadOptions options_;
  uint32_t connection_;
  uint64_t seq_ = 0;
  std::string request_;
  std::string last_key_;
  unsigned expected_status_ = 200;
  bool writes_ = false;
  std::mt19937_64 rng_;
};

}  // namespace stemedb::bench
