#include "bench/loadgen/workload.h"

#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>
#include <stdexcept>

namespace stemedb::bench {
namespace json = boost::json;

namespace {

// Beast's base64 lives in a detail namespace but is the same codec Beast uses
// for its own websocket handshake; good enough for a benchmark client.
std::string Base64(const std::string& in) {
  std::string out(boost::beast::detail::base64::encoded_size(in.size()), '\0');
  out.resize(boost::beast::detail::base64::encode(out.data(), in.data(), in.size()));
  return out;
}

std::string Resp(const std::vector<std::string>& parts) {
  std::string out = "*" + std::to_string(parts.size()) + "\r\n";
  for (const auto& p : parts) out += "$" + std::to_string(p.size()) + "\r\n" + p + "\r\n";
  return out;
}

}  // namespace

Workload::Workload(const WorkloadOptions& options, uint32_t connection_index)
    : options_(options), connection_(connection_index), rng_(connection_index * 7919 + 17) {
  const std::string& w = options_.name;
  writes_ = w == "assert" || w == "batch" || w == "put" || w == "set" || w == "txn" || w == "mset";
  if (options_.target == Target::kStemeDb && writes_) expected_status_ = 201;
  if (!writes_ && (!options_.read_keys || options_.read_keys->empty())) {
    throw std::invalid_argument("read workload needs preloaded keys");
  }
}

std::string Workload::Value(uint64_t seq) const {
  std::string pad(options_.value_bytes > 24 ? options_.value_bytes - 24 : 1, 'x');
  return "v" + std::to_string(connection_) + "-" + std::to_string(seq) + "-" + pad;
}

std::string Workload::HttpRequest(const std::string& method, const std::string& target,
                                  const std::string& body) const {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: " + options_.host + "\r\n";
  if (!options_.api_key.empty()) r += "X-API-Key: " + options_.api_key + "\r\n";
  if (!body.empty() || method == "POST") {
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  r += "\r\n" + body;
  return r;
}

const std::string& Workload::NextRequest() {
  const uint64_t seq = ++seq_;
  const std::string unique = "c" + std::to_string(connection_) + "-" + std::to_string(seq);
  const std::string& w = options_.name;
  auto pick = [&]() -> const std::string& {
    return (*options_.read_keys)[rng_() % options_.read_keys->size()];
  };
  auto assertion = [&](const std::string& subject) {
    return json::object{{"subject", subject},
                        {"predicate", "bench.value"},
                        {"value", Value(seq)},
                        {"agent_id", "loadgen"}};
  };
  switch (options_.target) {
    case Target::kStemeDb:
      if (w == "assert") {
        last_key_ = "subject-" + unique;
        request_ = HttpRequest("POST", "/v1/assert", json::serialize(assertion(last_key_)));
      } else if (w == "batch") {
        json::array batch;
        for (size_t i = 0; i < options_.batch_size; ++i) {
          batch.push_back(assertion("subject-" + unique + "-" + std::to_string(i)));
        }
        request_ = HttpRequest("POST", "/v1/assert/batch",
                               json::serialize(json::object{{"assertions", batch}}));
      } else if (w == "get") {
        request_ = HttpRequest("GET", "/v1/assertions/" + pick(), "");
      } else if (w == "query") {
        request_ = HttpRequest("GET", "/v1/query?subject=" + pick() + "&limit=10", "");
      } else {
        throw std::invalid_argument("unknown StemeDB workload " + w);
      }
      break;
    case Target::kEtcd:
      if (w == "put") {
        last_key_ = "subject-" + unique;
        request_ = HttpRequest("POST", "/v3/kv/put",
                               json::serialize(json::object{{"key", Base64(last_key_)},
                                                            {"value", Base64(Value(seq))}}));
      } else if (w == "txn") {
        // The batch equivalent: one transaction of batch_size puts.
        json::array puts;
        for (size_t i = 0; i < options_.batch_size; ++i) {
          std::string k = "subject-" + unique + "-" + std::to_string(i);
          puts.push_back(json::object{
              {"requestPut", json::object{{"key", Base64(k)}, {"value", Base64(Value(seq))}}}});
        }
        request_ =
            HttpRequest("POST", "/v3/kv/txn", json::serialize(json::object{{"success", puts}}));
      } else if (w == "get") {
        request_ = HttpRequest("POST", "/v3/kv/range",
                               json::serialize(json::object{{"key", Base64(pick())}}));
      } else {
        throw std::invalid_argument("unknown etcd workload " + w);
      }
      break;
    case Target::kRedis:
      if (w == "set") {
        last_key_ = "subject-" + unique;
        request_ = Resp({"SET", last_key_, Value(seq)});
      } else if (w == "mset") {
        std::vector<std::string> parts{"MSET"};
        for (size_t i = 0; i < options_.batch_size; ++i) {
          parts.push_back("subject-" + unique + "-" + std::to_string(i));
          parts.push_back(Value(seq));
        }
        request_ = Resp(parts);
      } else if (w == "get") {
        request_ = Resp({"GET", pick()});
      } else {
        throw std::invalid_argument("unknown Redis workload " + w);
      }
      break;
  }
  return request_;
}

std::string Workload::WrittenKey(const std::string& reply_body) const {
  if (options_.target != Target::kStemeDb) return last_key_;
  // Reads need the server-assigned id (get) or the subject (query).
  boost::system::error_code ec;
  json::value v = json::parse(reply_body, ec);
  if (ec || !v.is_object()) return "";
  if (const json::value* id = v.as_object().if_contains("id"); id && id->is_string()) {
    return std::string(id->as_string()) + "\t" + last_key_;
  }
  return "";
}

}  // namespace stemedb::bench
