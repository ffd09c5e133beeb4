#include "stemectl/smoke_command.h"

#include <sodium.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <sstream>

#include "auth/canonical_json.h"
#include "auth/encoding.h"
#include "auth/signature.h"

namespace stemedb::ctl {
namespace json = boost::json;

namespace {

const char* kSmokeUsage =
    "usage: stemectl smoke\n"
    "  Deep smoke gate: creates a throwaway project key, writes, reads, queries,\n"
    "  retracts, checks a signed write, metering and /metrics, then revokes the key.\n"
    "  Exit 0 with one line per step, or one line naming the first failed step.\n"
    "  The admin key is read from $STEMEDB_ADMIN_KEY.\n";

struct StepError {
  int exit_code = kExitFailed;
  std::string message;
};
using StepResult = boost::system::result<std::string, StepError>;

StepError Fail(std::string message) { return StepError{kExitFailed, std::move(message)}; }

std::string ErrorText(const client::HttpResponse& response) {
  boost::system::error_code ec;
  json::value body = json::parse(response.body, ec);
  if (!ec && body.is_object()) {
    if (const json::value* err = body.as_object().if_contains("error"); err && err->is_object()) {
      return " " + FieldText(err->as_object(), "code") + ": " +
             FieldText(err->as_object(), "message");
    }
  }
  return "";
}

class Smoke {
 public:
  Smoke(const GlobalOptions& options, std::string admin_key)
      : url_(options.url), admin_key_(std::move(admin_key)), http_(options.url) {
    auth::EnsureSodium();
    unsigned char random[4];
    randombytes_buf(random, sizeof random);
    project_ = "smoke-" + auth::ToHex(std::string_view(reinterpret_cast<char*>(random), 4));
    subject_ = project_ + "-subject";
  }

  int Run() {
    const std::vector<std::pair<std::string, std::function<StepResult()>>> steps = {
        {"ready", [this] { return Ready(); }},
        {"auth", [this] { return AuthOn(); }},
        {"create-key", [this] { return CreateKey(); }},
        {"write", [this] { return Write(); }},
        {"read", [this] { return Read(); }},
        {"query", [this] { return Query(); }},
        {"retract", [this] { return Retract(); }},
        {"signed-write", [this] { return SignedWrite(); }},
        {"metering", [this] { return Metering(); }},
        {"metrics", [this] { return Metrics(); }},
        {"cleanup", [this] { return Cleanup(); }},
    };
    std::ostringstream report;
    for (const auto& [name, step] : steps) {
      StepResult result = step();
      if (!result) {
        if (!key_id_.empty() && !revoked_) {
          // Best effort: a failed run must not leave a live key behind.
          auto ignored = Send("DELETE", "/v1/admin/api-keys/" + key_id_, "", admin_key_);
          (void)ignored;
        }
        std::cerr << "smoke: FAIL step '" << name << "': " << result.error().message << "\n";
        return result.error().exit_code;
      }
      report << "smoke: ok " << name << ": " << *result << "\n";
    }
    std::cout << report.str();
    return kExitOk;
  }

 private:
  boost::system::result<client::HttpResponse, StepError> Send(std::string_view method,
                                                              const std::string& target,
                                                              const std::string& body,
                                                              const std::string& key) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!key.empty()) headers.emplace_back("X-API-Key", key);
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    Result<client::HttpResponse> response = http_.Request(method, target, body, headers);
    if (!response) {
      return StepError{kExitUnreachable,
                       "cannot reach " + url_ + ": " + response.error().message()};
    }
    return std::move(*response);
  }

  // The reply to `method target` if its status is `want`, else the step's error.
  boost::system::result<client::HttpResponse, StepError> Expect(int want, std::string_view method,
                                                                const std::string& target,
                                                                const std::string& body,
                                                                const std::string& key) {
    auto response = Send(method, target, body, key);
    if (!response) return response.error();
    if (response->status != want) {
      StepError error = Fail(std::string(method) + " " + target.substr(0, target.find('?')) +
                             ": expected HTTP " + std::to_string(want) + ", got " +
                             std::to_string(response->status) + ErrorText(*response));
      if (key == admin_key_ && (response->status == 401 || response->status == 403)) {
        error.exit_code = kExitAuth;
      }
      return error;
    }
    return response;
  }

  static boost::system::result<json::object, StepError> ObjectOf(
      const client::HttpResponse& response) {
    boost::system::error_code ec;
    json::value v = json::parse(response.body, ec);
    if (ec || !v.is_object()) return Fail("reply is not a JSON object: " + response.body);
    return std::move(v.as_object());
  }

  // Expect() whose reply must be a JSON object.
  boost::system::result<json::object, StepError> ExpectObject(int want, std::string_view method,
                                                              const std::string& target,
                                                              const std::string& body,
                                                              const std::string& key) {
    auto r = Expect(want, method, target, body, key);
    if (!r) return r.error();
    return ObjectOf(*r);
  }

  boost::system::result<json::array, StepError> QueryAssertions() {
    auto body = ExpectObject(200, "GET", "/v1/query?subject=" + subject_, "", key_);
    if (!body) return body.error();
    const json::value* list = body->if_contains("assertions");
    if (list == nullptr || !list->is_array()) return Fail("query reply has no assertions array");
    return list->as_array();
  }

  // The sum of every stemedb_assertions_written_total series. Summed, not
  // read for our project: the server caps project labels (later projects
  // count as "_other"), and other clients only make the sum grow.
  boost::system::result<double, StepError> WrittenTotal() {
    auto r = Expect(200, "GET", "/metrics", "", "");
    if (!r) return r.error();
    static constexpr std::string_view kSeries = "stemedb_assertions_written_total{";
    double total = 0;
    bool found = false;
    std::istringstream lines(r->body);
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.starts_with(kSeries)) continue;
      auto space = line.rfind(' ');
      if (space == std::string::npos) continue;
      total += std::atof(line.c_str() + space + 1);
      found = true;
    }
    if (!found && baseline_ >= 0) return Fail("/metrics has no stemedb_assertions_written_total");
    return boost::system::result<double, StepError>(boost::system::in_place_value, total);
  }

  StepResult Ready() {
    auto r = Expect(200, "GET", "/v1/ready", "", "");
    if (!r) return r.error();
    auto total = WrittenTotal();
    if (!total) return total.error();
    baseline_ = *total;
    return "GET /v1/ready 200";
  }

  StepResult AuthOn() {
    auto r = Send("GET", "/v1/query?subject=" + subject_ + "&project=" + project_, "", "");
    if (!r) return r.error();
    if (r->status != 401) {
      return Fail("a request without an API key got HTTP " + std::to_string(r->status) +
                  ", expected 401 (is STEMEDB_AUTH_ENABLED off?)");
    }
    return "no key -> 401";
  }

  StepResult CreateKey() {
    json::object body{{"label", project_}, {"role", "write_agent"}, {"project", project_}};
    auto reply = ExpectObject(201, "POST", "/v1/admin/api-keys", json::serialize(body), admin_key_);
    if (!reply) return reply.error();
    key_ = FieldText(*reply, "key");
    key_id_ = FieldText(*reply, "key_id");
    if (key_.size() < 16 || key_id_ == "-") return Fail("the reply holds no key");
    return "key " + key_id_ + " for project " + project_;
  }

  StepResult Write() {
    json::object a{{"subject", subject_},
                   {"predicate", "smoke"},
                   {"value", json::object{{"ok", true}}},
                   {"agent_id", "stemectl-smoke"}};
    auto reply = ExpectObject(201, "POST", "/v1/assert", json::serialize(a), key_);
    if (!reply) return reply.error();
    id_ = FieldText(*reply, "id");
    if (id_.size() != 32) return Fail("the reply holds no id: " + json::serialize(*reply));
    if (FieldText(*reply, "project") != project_) {
      return Fail("written into project " + FieldText(*reply, "project") + ", expected " +
                  project_);
    }
    return "id " + id_ + " lsn " + FieldText(*reply, "lsn");
  }

  StepResult Read() {
    auto stored = ExpectObject(200, "GET", "/v1/assertions/" + id_, "", key_);
    if (!stored) return stored.error();
    const json::value* value = stored->if_contains("value");
    if (FieldText(*stored, "subject") != subject_ || FieldText(*stored, "predicate") != "smoke" ||
        value == nullptr || json::serialize(*value) != R"({"ok":true})" ||
        FieldText(*stored, "agent_id") != "stemectl-smoke") {
      return Fail("read back something else than was written: " + json::serialize(*stored));
    }
    return "GET /v1/assertions/" + id_ + " matches";
  }

  StepResult Query() {
    auto list = QueryAssertions();
    if (!list) return list.error();
    if (list->size() != 1) {
      return Fail("expected 1 assertion, got " + std::to_string(list->size()));
    }
    if (!(*list)[0].is_object() || FieldText((*list)[0].as_object(), "id") != id_) {
      return Fail("the query found another assertion than " + id_);
    }
    return "subject " + subject_ + ": 1 assertion";
  }

  StepResult Retract() {
    auto r = Expect(201, "POST", "/v1/retract", json::serialize(json::object{{"id", id_}}), key_);
    if (!r) return r.error();
    auto list = QueryAssertions();
    if (!list) return list.error();
    if (!list->empty()) {
      return Fail("expected 0 assertions after the retraction, got " +
                  std::to_string(list->size()));
    }
    return "retracted " + id_ + "; query finds 0";
  }

  StepResult SignedWrite() {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    const std::string agent = project_ + "-agent";
    json::object registration{
        {"agent_id", agent},
        {"public_key", auth::ToBase64(std::string_view(reinterpret_cast<char*>(pk), sizeof pk))}};
    auto reg = Expect(201, "POST", "/v1/agents", json::serialize(registration), key_);
    if (!reg) {
      sodium_memzero(sk, sizeof sk);
      return reg.error();
    }
    json::value value = json::object{{"signed", true}};
    json::object a{
        {"subject", subject_}, {"predicate", "signed"}, {"value", value}, {"agent_id", agent}};
    // An unsigned write by a registered agent must be refused.
    auto unsigned_write = Send("POST", "/v1/assert", json::serialize(a), key_);
    if (!unsigned_write) {
      sodium_memzero(sk, sizeof sk);
      return unsigned_write.error();
    }
    if (unsigned_write->status != 401) {
      sodium_memzero(sk, sizeof sk);
      return Fail("an unsigned write by a registered agent got HTTP " +
                  std::to_string(unsigned_write->status) + ", expected 401 bad_signature");
    }
    std::string value_json;
    auth::AppendCanonicalJson(value, &value_json);
    auth::SignedFields fields;
    fields.project = project_;
    fields.subject = subject_;
    fields.predicate = "signed";
    fields.value_json = value_json;
    fields.agent_id = agent;
    const std::string message = auth::CanonicalSigningBytes(fields);
    unsigned char signature[crypto_sign_BYTES];
    crypto_sign_detached(signature, nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                         message.size(), sk);
    sodium_memzero(sk, sizeof sk);
    a["signature"] =
        auth::ToBase64(std::string_view(reinterpret_cast<char*>(signature), sizeof signature));
    auto reply = ExpectObject(201, "POST", "/v1/assert", json::serialize(a), key_);
    if (!reply) return reply.error();
    if (FieldText(*reply, "signed") != "true") {
      return Fail("the signed write was stored with \"signed\":" + FieldText(*reply, "signed"));
    }
    signed_id_ = FieldText(*reply, "id");
    return "agent " + agent + ": unsigned 401, signed 201";
  }

  StepResult Metering() {
    auto body = ExpectObject(200, "GET", "/v1/admin/usage?project=" + project_, "", admin_key_);
    if (!body) return body.error();
    const json::value* keys = body->if_contains("keys");
    const json::object* mine = nullptr;
    if (keys != nullptr && keys->is_array()) {
      for (const auto& k : keys->as_array()) {
        if (k.is_object() && FieldText(k.as_object(), "key_id") == key_id_) mine = &k.as_object();
      }
    }
    if (mine == nullptr) return Fail("no usage for key " + key_id_);
    // This run wrote twice (and retracted once) with the key.
    const int64_t writes = std::atoll(FieldText(*mine, "assertions_written").c_str());
    const int64_t requests = std::atoll(FieldText(*mine, "requests").c_str());
    if (writes < 2 || requests < 2) {
      return Fail("usage of key " + key_id_ + " did not move: " + std::to_string(requests) +
                  " requests, " + std::to_string(writes) + " assertions written");
    }
    return std::to_string(requests) + " requests, " + std::to_string(writes) +
           " assertions written";
  }

  StepResult Metrics() {
    auto total = WrittenTotal();
    if (!total) return total.error();
    const int64_t counted = static_cast<int64_t>(*total - baseline_);
    if (counted < 2) {
      return Fail("/metrics counts " + std::to_string(counted) +
                  " new writes in stemedb_assertions_written_total, expected at least 2");
    }
    return "stemedb_assertions_written_total grew by " + std::to_string(counted);
  }

  StepResult Cleanup() {
    // The API deletes nothing; retracting is what it allows.
    if (!signed_id_.empty()) {
      auto r = Expect(201, "POST", "/v1/retract", json::serialize(json::object{{"id", signed_id_}}),
                      key_);
      if (!r) return r.error();
    }
    auto r = Expect(200, "DELETE", "/v1/admin/api-keys/" + key_id_, "", admin_key_);
    if (!r) return r.error();
    revoked_ = true;
    auto refused = Send("GET", "/v1/usage", "", key_);
    if (!refused) return refused.error();
    if (refused->status != 401) {
      return Fail("the revoked key still works: HTTP " + std::to_string(refused->status));
    }
    return "retracted, key " + key_id_ + " revoked and refused";
  }

  const std::string url_;
  const std::string admin_key_;
  client::HttpClient http_;
  std::string project_;
  std::string subject_;
  std::string key_;
  std::string key_id_;
  std::string id_;
  std::string signed_id_;
  bool revoked_ = false;
  double baseline_ = -1;  // stemedb_assertions_written_total before the writes
};

}  // namespace

int RunSmokeCommand(const GlobalOptions& options, const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << kSmokeUsage;
      return kExitOk;
    }
    std::cerr << "stemectl: unexpected argument '" << a << "'\n" << kSmokeUsage;
    return kExitUsage;
  }
  std::string key = AdminKeyFromEnv();
  if (key.empty()) {
    std::cerr << "smoke: FAIL step 'create-key': set STEMEDB_ADMIN_KEY to an admin API key\n";
    return kExitAuth;
  }
  return Smoke(options, std::move(key)).Run();
}

}  // namespace stemedb::ctl
