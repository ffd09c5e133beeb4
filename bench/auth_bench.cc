// auth/ hot paths: what every request pays before it reaches the engine.
//   BM_Authenticate         KeyStore::Authenticate of a cached key (BLAKE2b + map + memcmp)
//   BM_VerifySignature      VerifyAssertionSignature (JCS encoding + Ed25519 verify)
//   BM_Ed25519VerifyRaw     crypto_sign_verify_detached alone, for comparison
//   BM_RateLimiterAcquire   one token from a bucket; threads = I/O threads on distinct keys
//   BM_UsageRecordRequest   UsageMeter::RecordRequest on distinct keys
// Run: build/bench/auth_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <sodium.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "auth/audit_log.h"
#include "auth/encoding.h"
#include "auth/key_store.h"
#include "auth/rate_limiter.h"
#include "auth/signature.h"
#include "auth/usage_meter.h"
#include "engine/database.h"

namespace stemedb::auth {
namespace {

constexpr int64_t kNow = 1'800'000'000'000'000;

// One engine + key store shared by the Authenticate benchmark, with 1000
// keys so the map lookup is not a one-entry toy.
struct KeyFixture {
  std::string dir;
  std::unique_ptr<engine::Database> db;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<KeyStore> store;
  std::string key;

  KeyFixture() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "auth_bench_XXXXXX").string();
    dir = mkdtemp(tmpl.data());
    engine::DatabaseOptions options;
    options.db_dir = dir + "/db";
    options.wal.dir = dir + "/wal";
    options.wal.sync_policy = wal::SyncPolicy::kNone;  // setup speed only
    db = std::move(engine::Database::Open(options, nullptr).value());
    audit = std::make_unique<AuditLog>(db.get());
    store = std::make_unique<KeyStore>(db.get(), audit.get());
    Status loaded = audit->Load();
    if (loaded.ok()) loaded = store->Load();
    loaded.IgnoreError("benchmark setup; a failure shows as failed Create below");
    for (int i = 0; i < 1000; ++i) {
      CreateKeyRequest request;
      request.label = "bench";
      request.role = Role::kWriteAgent;
      request.project = "p" + std::to_string(i % 10);
      key = store->Create(request, "bench", kNow).value().key;
    }
  }
  ~KeyFixture() {
    store.reset();
    audit.reset();
    db->Close().IgnoreError("benchmark teardown");
    db.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

void BM_Authenticate(benchmark::State& state) {
  static KeyFixture* fixture = new KeyFixture();  // shared across threads, never freed early
  for (auto _ : state) {
    Result<Principal> p = fixture->store->Authenticate(fixture->key, kNow);
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_Authenticate)->Threads(1)->Threads(2);

SignedFields ExampleFields() {
  SignedFields f;
  f.project = "demo";
  f.subject = "sensor:42";
  f.predicate = "temperature";
  f.value_json = R"({"unit":"C","reading":21.5,"tags":["roof","north"]})";
  f.agent_id = "thermo-agent-7";
  f.confidence = 0.9;
  f.observed_at = "2026-11-22T15:38:22Z";
  return f;
}

struct SignedExample {
  std::string public_key_b64;
  std::string signature_b64;
  std::string message;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sig[crypto_sign_BYTES];
  SignedExample() {
    EnsureSodium();
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    message = CanonicalSigningBytes(ExampleFields());
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                         message.size(), sk);
    public_key_b64 = ToBase64(std::string(reinterpret_cast<char*>(pk), sizeof(pk)));
    signature_b64 = ToBase64(std::string(reinterpret_cast<char*>(sig), sizeof(sig)));
  }
};

void BM_VerifySignature(benchmark::State& state) {
  static SignedExample example;
  const SignedFields fields = ExampleFields();
  for (auto _ : state) {
    Status s = VerifyAssertionSignature(fields, example.signature_b64, example.public_key_b64);
    if (!s.ok()) state.SkipWithError("signature did not verify");
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_VerifySignature);

void BM_Ed25519VerifyRaw(benchmark::State& state) {
  static SignedExample example;
  for (auto _ : state) {
    int rc = crypto_sign_verify_detached(
        example.sig, reinterpret_cast<const unsigned char*>(example.message.data()),
        example.message.size(), example.pk);
    benchmark::DoNotOptimize(rc);
  }
}
BENCHMARK(BM_Ed25519VerifyRaw);

void BM_RateLimiterAcquire(benchmark::State& state) {
  static RateLimiter* limiter = new RateLimiter(RateLimitSpec{1e9, 1e9});
  const std::string key = "key" + std::to_string(state.thread_index()) + "0000000000000";
  const auto now = std::chrono::steady_clock::now();
  for (auto _ : state) {
    RateDecision d = limiter->Acquire(key, std::nullopt, now);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_RateLimiterAcquire)->Threads(1)->Threads(2);

void BM_UsageRecordRequest(benchmark::State& state) {
  static UsageMeter* meter = new UsageMeter(nullptr, true);  // never flushed: no engine needed
  const std::string key = "key" + std::to_string(state.thread_index()) + "0000000000000";
  int64_t now = kNow;
  for (auto _ : state) meter->RecordRequest(key, "demo", 200, 300, ++now);
}
BENCHMARK(BM_UsageRecordRequest)->Threads(1)->Threads(2);

}  // namespace
}  // namespace stemedb::auth

BENCHMARK_MAIN();
