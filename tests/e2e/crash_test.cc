// Crash safety against the real binary (issue 2/9): concurrent writers over
// HTTP, kill -9 at a random moment, restart, and every acknowledged write is
// there with identical content. Rounds: STEMEDB_CRASH_ROUNDS (default 20; the
// soak is STEMEDB_CRASH_ROUNDS=200 on this binary, see docs/testing.md).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"

namespace stemedb::e2e {
namespace {

using namespace std::chrono_literals;

constexpr int kWriters = 8;

struct AckedAssertion {
  std::string id;
  uint64_t lsn = 0;
  json::object content;  // what was sent
};
struct AckedRetraction {
  std::string retraction_id;
  std::string target_id;
  std::string target_subject;
  uint64_t lsn = 0;
};
// A write whose reply was lost to the crash: retried after the restart with
// the same Idempotency-Key, it must be applied at most once.
struct Uncertain {
  std::string target, body, idem_key, subject;
};

uint64_t LsnOf(const json::value& v) {
  const json::value* l = v.is_object() ? v.as_object().if_contains("lsn") : nullptr;
  if (l == nullptr) return 0;
  if (l->is_uint64()) return l->as_uint64();
  if (l->is_int64()) return static_cast<uint64_t>(l->as_int64());
  return 0;
}

std::string StrOf(const json::value& v, const char* field) {
  const json::value* f = v.is_object() ? v.as_object().if_contains(field) : nullptr;
  return f != nullptr && f->is_string() ? std::string(f->as_string()) : "";
}

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Small segments: the kill lands on rotations too.
    server_.SetEnv("STEMEDB_WAL_SEGMENT_BYTES", "1048576");
    ASSERT_TRUE(server_.Start().ok()) << server_.Stderr();
    auto http = server_.Client();
    auto key = CreateKey(*http, server_.root_key(), "crash", "write_agent");
    ASSERT_TRUE(key) << key.error().ToString();
    key_ = key->key;
  }

  // One writer's load until `stop` or a transport error (the kill).
  void Writer(int round, int thread, std::atomic<bool>* stop) {
    auto http = server_.Client();
    std::mt19937_64 rng(std::random_device{}());
    std::vector<AckedAssertion> mine;
    int n = 0;
    while (!stop->load()) {
      const std::string tag =
          std::to_string(round) + "-" + std::to_string(thread) + "-" + std::to_string(n++);
      const int op = static_cast<int>(rng() % 100);
      std::string target, body, subject;
      std::vector<json::object> sent;
      std::string retract_target, retract_subject;
      if (op < 15 && !mine.empty()) {
        // Each assertion is retracted at most once: a second retraction
        // of the same id is a different, legitimately refused request.
        const size_t pick = rng() % mine.size();
        const AckedAssertion victim = mine[pick];
        mine[pick] = mine.back();
        mine.pop_back();
        target = "/v1/retract";
        body = Serialize(json::object{{"id", victim.id}});
        retract_target = victim.id;
        retract_subject = std::string(victim.content.at("subject").as_string());
        subject = retract_subject;
      } else if (op < 35) {
        json::array batch;
        const int size = 1 + static_cast<int>(rng() % 20);
        for (int i = 0; i < size; ++i) {
          json::object a = Assertion("crash-" + tag + "-" + std::to_string(i), "p",
                                     json::object{{"n", n}, {"i", i}, {"r", round}}, "agent");
          sent.push_back(a);
          batch.push_back(a);
        }
        target = "/v1/assert/batch";
        body = Serialize(json::object{{"assertions", batch}});
        subject = "crash-" + tag + "-0";
      } else {
        json::object a = Assertion("crash-" + tag, "p",
                                   json::array{json::string(tag), 3.5, true, nullptr}, "agent");
        a["confidence"] = 0.75;
        sent.push_back(a);
        target = "/v1/assert";
        body = Serialize(a);
        subject = "crash-" + tag;
      }
      const std::string idem = "idem-" + tag;
      auto r = http->Request("POST", target, body, Auth(key_, {{"Idempotency-Key", idem}}));
      if (!r) {
        // The kill (or the connection it broke): the write may or may not
        // have committed. Remember it for the retry check and stop.
        std::lock_guard<std::mutex> lock(mu_);
        uncertain_.push_back({target, body, idem, subject});
        break;
      }
      if (r->status == 503) continue;  // in-flight cap: not an acknowledgement
      if (r->status != 201) {
        std::lock_guard<std::mutex> lock(mu_);
        failures_.push_back(target + " " + Describe(*r));
        continue;
      }
      json::value reply = ParseJson(r->body);
      std::lock_guard<std::mutex> lock(mu_);
      if (target == "/v1/retract") {
        retractions_.push_back({StrOf(reply, "id"), retract_target, retract_subject, LsnOf(reply)});
      } else if (target == "/v1/assert") {
        AckedAssertion a{StrOf(reply, "id"), LsnOf(reply), sent[0]};
        mine.push_back(a);
        acked_.push_back(std::move(a));
      } else {
        const json::value* list =
            reply.is_object() ? reply.as_object().if_contains("assertions") : nullptr;
        if (list == nullptr || !list->is_array() || list->as_array().size() != sent.size()) {
          failures_.push_back("batch reply shape: " + r->body.substr(0, 200));
          continue;
        }
        for (size_t i = 0; i < sent.size(); ++i) {
          const json::value& e = list->as_array()[i];
          AckedAssertion a{StrOf(e, "id"), LsnOf(e), sent[i]};
          mine.push_back(a);
          acked_.push_back(std::move(a));
        }
      }
    }
  }

  // Every acknowledged assertion reads back identical; every acknowledged
  // retraction is there and hides its target from the current view.
  void VerifyAll(const std::vector<AckedAssertion>& acked,
                 const std::vector<AckedRetraction>& retractions) {
    std::atomic<size_t> next{0};
    std::mutex err_mu;
    std::vector<std::string> errors;
    auto check = [&]() {
      auto http = server_.Client();
      for (size_t i = next++; i < acked.size(); i = next++) {
        const AckedAssertion& a = acked[i];
        auto r = http->Request("GET", "/v1/assertions/" + a.id, {}, Auth(key_));
        std::string err;
        if (!r || r->status != 200) {
          err = "acked " + a.id + " lost: " + Describe(r);
        } else {
          json::value got = ParseJson(r->body);
          for (const char* f : {"subject", "predicate", "value", "agent_id"}) {
            const json::value* g = got.is_object() ? got.as_object().if_contains(f) : nullptr;
            if (g == nullptr || *g != a.content.at(f)) {
              err = "acked " + a.id + " field " + f + " differs: " + r->body.substr(0, 300);
            }
          }
          if (LsnOf(got) != a.lsn) err = "acked " + a.id + " lsn differs: " + r->body;
        }
        if (!err.empty()) {
          std::lock_guard<std::mutex> lock(err_mu);
          errors.push_back(err);
        }
      }
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < kWriters; ++t) threads.emplace_back(check);
    for (auto& t : threads) t.join();
    auto http = server_.Client();
    for (const auto& rt : retractions) {
      auto r = http->Request("GET", "/v1/assertions/" + rt.retraction_id, {}, Auth(key_));
      if (!r || r->status != 200 || StrOf(ParseJson(r->body), "retracts") != rt.target_id) {
        errors.push_back("acked retraction " + rt.retraction_id + " lost: " + Describe(r));
        continue;
      }
      auto q = http->Request("GET", "/v1/query?subject=" + rt.target_subject, {}, Auth(key_));
      if (!q || q->status != 200 || q->body.find(rt.target_id) != std::string::npos) {
        errors.push_back("retracted " + rt.target_id + " still current: " + Describe(q));
      }
    }
    for (size_t i = 0; i < errors.size() && i < 20; ++i) ADD_FAILURE() << errors[i];
    EXPECT_TRUE(errors.empty()) << errors.size() << " verification errors";
  }

  // A write interrupted by the kill, retried twice with its Idempotency-Key
  // after the restart: both retries get the same 201, and it exists once.
  void VerifyUncertain() {
    auto http = server_.Client();
    for (const auto& u : uncertain_) {
      auto first =
          http->Request("POST", u.target, u.body, Auth(key_, {{"Idempotency-Key", u.idem_key}}));
      auto second =
          http->Request("POST", u.target, u.body, Auth(key_, {{"Idempotency-Key", u.idem_key}}));
      ASSERT_TRUE(first && second) << Describe(first) << " / " << Describe(second);
      EXPECT_EQ(first->status, 201) << u.target << " " << Describe(*first);
      EXPECT_EQ(second->status, first->status);
      EXPECT_EQ(ParseJson(second->body), ParseJson(first->body)) << "a retry got another reply";
      if (u.target == "/v1/retract") continue;
      auto q = http->Request("GET", "/v1/query?history=true&subject=" + u.subject, {}, Auth(key_));
      ASSERT_TRUE(q && q->status == 200) << Describe(q);
      json::value v = ParseJson(q->body);
      ASSERT_TRUE(v.is_object() && v.as_object().contains("assertions")) << q->body;
      EXPECT_EQ(v.as_object().at("assertions").as_array().size(), 1u)
          << "an idempotent retry wrote twice: " << q->body.substr(0, 400);
    }
  }

  ServerProcess server_;
  std::string key_;
  std::mutex mu_;
  std::vector<AckedAssertion> acked_;
  std::vector<AckedRetraction> retractions_;
  std::vector<Uncertain> uncertain_;
  std::vector<std::string> failures_;
};

TEST_F(CrashTest, AcknowledgedWritesSurviveKill9) {
  const int rounds = EnvInt("STEMEDB_CRASH_ROUNDS", 20);
  std::mt19937_64 rng(std::random_device{}());
  std::vector<AckedAssertion> earlier;
  size_t total_acked = 0;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    acked_.clear();
    retractions_.clear();
    uncertain_.clear();
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < kWriters; ++t) {
      writers.emplace_back([this, round, t, &stop] { Writer(round, t, &stop); });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 900));
    server_.Kill();
    stop = true;
    for (auto& w : writers) w.join();
    for (const auto& f : failures_) ADD_FAILURE() << "non-201 reply under load: " << f;
    failures_.clear();

    ASSERT_TRUE(server_.Start().ok()) << server_.StderrSinceStart();
    VerifyAll(acked_, retractions_);
    VerifyUncertain();
    // A sample of earlier rounds: later recoveries must not lose them either.
    std::vector<AckedAssertion> sample;
    for (size_t i = 0; i < 100 && !earlier.empty(); ++i)
      sample.push_back(earlier[rng() % earlier.size()]);
    VerifyAll(sample, {});
    total_acked += acked_.size();
    earlier.insert(earlier.end(), acked_.begin(), acked_.end());
    if (HasFatalFailure() || HasFailure()) break;
  }
  EXPECT_GT(total_acked, 0u) << "no write was acknowledged: the test proved nothing";
  std::printf("crash rounds: %d, acknowledged assertions verified: %zu\n", rounds, total_acked);
}

TEST_F(CrashTest, IdempotentRetryAfterKill9ReturnsFirstReply) {
  auto http = server_.Client();
  const json::object a = Assertion("idem-subject", "p", json::object{{"x", 1}}, "agent");
  const Headers h = Auth(key_, {{"Idempotency-Key", "retry-1"}});
  auto first = http->Request("POST", "/v1/assert", Serialize(a), h);
  ASSERT_TRUE(first && first->status == 201) << Describe(first);
  json::array batch{Assertion("idem-batch", "p", 1, "agent"),
                    Assertion("idem-batch", "q", 2, "agent")};
  const std::string batch_body = Serialize(json::object{{"assertions", batch}});
  const Headers hb = Auth(key_, {{"Idempotency-Key", "retry-batch"}});
  auto first_batch = http->Request("POST", "/v1/assert/batch", batch_body, hb);
  ASSERT_TRUE(first_batch && first_batch->status == 201) << Describe(first_batch);

  server_.Kill();
  ASSERT_TRUE(server_.Start().ok()) << server_.StderrSinceStart();
  http = server_.Client();

  auto again = http->Request("POST", "/v1/assert", Serialize(a), h);
  ASSERT_TRUE(again) << Describe(again);
  EXPECT_EQ(again->status, 201) << Describe(*again);
  EXPECT_EQ(ParseJson(again->body), ParseJson(first->body)) << "retry after kill -9 differs";
  auto again_batch = http->Request("POST", "/v1/assert/batch", batch_body, hb);
  ASSERT_TRUE(again_batch) << Describe(again_batch);
  EXPECT_EQ(ParseJson(again_batch->body), ParseJson(first_batch->body));

  auto q = http->Request("GET", "/v1/query?history=true&subject=idem-subject", {}, Auth(key_));
  ASSERT_TRUE(q && q->status == 200) << Describe(q);
  EXPECT_EQ(ParseJson(q->body).at("assertions").as_array().size(), 1u) << q->body;

  // The same key with another body is a conflict, also after the restart.
  const json::object other = Assertion("idem-subject", "p", json::object{{"x", 2}}, "agent");
  auto conflict = http->Request("POST", "/v1/assert", Serialize(other), h);
  ASSERT_TRUE(conflict) << Describe(conflict);
  EXPECT_EQ(conflict->status, 409) << Describe(*conflict);
  EXPECT_EQ(ErrorCode(*conflict), "conflict");
}

TEST_F(CrashTest, KeysCreatedThroughTheApiSurviveKill9) {
  auto http = server_.Client();
  auto reader = CreateKey(*http, server_.root_key(), "crash", "read_only");
  ASSERT_TRUE(reader) << reader.error().ToString();
  auto w = PostAssertion(*http, key_, Assertion("k", "p", "v", "agent"));
  ASSERT_TRUE(w && w->status == 201) << Describe(w);
  const std::string id = StrOf(ParseJson(w->body), "id");

  server_.Kill();
  ASSERT_TRUE(server_.Start().ok()) << server_.StderrSinceStart();
  http = server_.Client();
  auto r = http->Request("GET", "/v1/assertions/" + id, {}, Auth(reader->key));
  ASSERT_TRUE(r) << Describe(r);
  EXPECT_EQ(r->status, 200) << Describe(*r);
  auto w2 = PostAssertion(*http, key_, Assertion("k", "p", "v2", "agent"));
  ASSERT_TRUE(w2) << Describe(w2);
  EXPECT_EQ(w2->status, 201) << Describe(*w2);
}

}  // namespace
}  // namespace stemedb::e2e
