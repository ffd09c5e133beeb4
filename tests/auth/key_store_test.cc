// KeyStore against a real engine in a temp dir: lifecycle, grace, expiry,
// bootstrap across reopen, and the audit trail of each action.
#include "auth/key_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <thread>

#include "auth/audit_log.h"
#include "auth/usage_meter.h"
#include "tests/auth/temp_database.h"

namespace stemedb::auth {
namespace {

using testing::kSecond;
using testing::kT0;
using testing::TempDatabase;

class KeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Start()); }

  // (Re)creates the store objects on the (re)opened database, as the server
  // does at startup.
  void Start() {
    if (db_.get() == nullptr) {
      ASSERT_NO_FATAL_FAILURE(db_.Open());
    }
    audit_ = std::make_unique<AuditLog>(db_.get());
    ASSERT_TRUE(audit_->Load().ok());
    store_ = std::make_unique<KeyStore>(db_.get(), audit_.get());
    ASSERT_TRUE(store_->Load().ok());
  }
  void Restart() {
    store_.reset();
    audit_.reset();
    db_.Reopen();
    ASSERT_NO_FATAL_FAILURE(Start());
  }

  IssuedKey MustCreate(Role role, std::string project, int64_t expires_at_us = 0) {
    CreateKeyRequest request;
    request.label = "test key";
    request.role = role;
    request.project = std::move(project);
    request.expires_at_us = expires_at_us;
    Result<IssuedKey> issued = store_->Create(request, "actor0000000000a", kT0);
    EXPECT_TRUE(issued.has_value()) << issued.error().ToString();
    return issued ? *issued : IssuedKey{};
  }

  std::vector<AuditRecord> Audit() {
    Result<std::vector<AuditRecord>> records = audit_->List(100, 0);
    EXPECT_TRUE(records.has_value());
    return records ? *records : std::vector<AuditRecord>{};
  }

  TempDatabase db_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<KeyStore> store_;
};

void ExpectRejected(const KeyStore& store, const std::string& key, int64_t now_us) {
  Result<Principal> p = store.Authenticate(key, now_us);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), Status::Code::kUnauthenticated);
  EXPECT_EQ(p.error().message(), "invalid api key");
}

TEST_F(KeyStoreTest, CreateAuthenticateListGet) {
  EXPECT_TRUE(store_->empty());
  const CreateKeyRequest request{"ingest", Role::kWriteAgent, "demo", RateLimitSpec{5, 10}};
  Result<IssuedKey> issued = store_->Create(request, "actor0000000000a", kT0);
  ASSERT_TRUE(issued.has_value()) << issued.error().ToString();
  EXPECT_TRUE(IsWellFormedKey(issued->key));
  EXPECT_EQ(issued->record.key_id, KeyIdOf(issued->key));
  EXPECT_EQ(issued->record.hash_hex, HashKeyHex(issued->key));
  EXPECT_FALSE(store_->empty());

  Result<Principal> p = store_->Authenticate(issued->key, kT0 + kSecond);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->key_id, issued->record.key_id);
  EXPECT_EQ(p->role, Role::kWriteAgent);
  EXPECT_EQ(p->project, "demo");
  EXPECT_EQ(p->label, "ingest");
  ASSERT_TRUE(p->rate_limit.has_value());
  EXPECT_EQ(p->rate_limit->ToString(), "5/s,10");

  std::vector<KeyRecord> keys = store_->List();
  ASSERT_EQ(keys.size(), 1u);
  const std::string json = KeyRecordJson(keys[0], kT0);
  EXPECT_EQ(json.find(issued->key), std::string::npos) << "listing leaks the key";
  EXPECT_EQ(json.find(issued->key.substr(11)), std::string::npos);
  Result<KeyRecord> got = store_->Get(issued->record.key_id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->created_at_us, kT0);
  EXPECT_EQ(store_->Get("0000000000000000").error().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->Get("not-a-key-id").error().code(), Status::Code::kNotFound);

  std::vector<AuditRecord> audit = Audit();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].action, "key.create");
  EXPECT_EQ(audit[0].actor_key_id, "actor0000000000a");
  EXPECT_EQ(audit[0].target, issued->record.key_id);
  EXPECT_EQ(audit[0].time_us, kT0);
  EXPECT_EQ(AuditRecordJson(audit[0]).find(issued->key), std::string::npos);
}

TEST_F(KeyStoreTest, CreateValidatesItsRequest) {
  CreateKeyRequest r;
  r.label = "x";
  r.role = Role::kReadOnly;
  r.project = "";  // non-admin needs a project
  EXPECT_EQ(store_->Create(r, "a", kT0).error().code(), Status::Code::kInvalidArgument);
  r.project = "has/slash";
  EXPECT_EQ(store_->Create(r, "a", kT0).error().code(), Status::Code::kInvalidArgument);
  r.project = "demo";
  r.label = "";
  EXPECT_EQ(store_->Create(r, "a", kT0).error().code(), Status::Code::kInvalidArgument);
  r.label = "x";
  r.expires_at_us = kT0;  // not in the future
  EXPECT_EQ(store_->Create(r, "a", kT0).error().code(), Status::Code::kInvalidArgument);
  r.expires_at_us = 0;
  r.rate_limit = RateLimitSpec{0, 10};
  EXPECT_EQ(store_->Create(r, "a", kT0).error().code(), Status::Code::kInvalidArgument);
  r.rate_limit.reset();
  r.role = Role::kAdmin;  // admin keys span all projects
  EXPECT_EQ(store_->Create(r, "a", kT0).error().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(store_->empty());
  EXPECT_TRUE(Audit().empty()) << "a refused request is not an action";
}

TEST_F(KeyStoreTest, CreateRefusesProjectsOutsideTheOneRule) {
  CreateKeyRequest r;
  r.label = "x";
  r.role = Role::kWriteAgent;
  for (const char* bad : {".x", "Foo", "team-a.prod_1", "al_pha", "-a", "a-"}) {
    r.project = bad;
    Result<IssuedKey> issued = store_->Create(r, "a", kT0);
    ASSERT_FALSE(issued.has_value()) << bad;
    EXPECT_EQ(issued.error().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(issued.error().message().find("DNS label"), std::string::npos)
        << issued.error().message();
  }
  EXPECT_TRUE(store_->empty());
}

TEST_F(KeyStoreTest, BackupKeysSpanAllProjectsAndSurviveRestart) {
  CreateKeyRequest r;
  r.label = "nightly";
  r.role = Role::kBackup;
  r.project = "alpha";  // a backup holds every project: no project of its own
  EXPECT_EQ(store_->Create(r, "a", kT0).error().code(), Status::Code::kInvalidArgument);
  IssuedKey backup = MustCreate(Role::kBackup, "");
  ASSERT_NO_FATAL_FAILURE(Restart());
  Result<Principal> p = store_->Authenticate(backup.key, kT0);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->role, Role::kBackup);
  EXPECT_EQ(p->project, "");
  EXPECT_EQ(RoleName(Role::kBackup), "backup");
  EXPECT_EQ(*ParseRole("backup"), Role::kBackup);
}

TEST_F(KeyStoreTest, AuthenticateRejectsMalformedUnknownRevokedAndExpired) {
  IssuedKey live = MustCreate(Role::kReadOnly, "demo");
  IssuedKey expiring = MustCreate(Role::kReadOnly, "demo", kT0 + 60 * kSecond);
  ExpectRejected(*store_, "", kT0);
  ExpectRejected(*store_, "Bearer " + live.key, kT0);
  ExpectRejected(*store_, live.key.substr(0, live.key.size() - 1), kT0);
  ExpectRejected(*store_, GenerateKey(), kT0);  // well formed, unknown
  std::string other_suffix = live.key;
  other_suffix.back() = other_suffix.back() == '0' ? '1' : '0';
  ExpectRejected(*store_, other_suffix, kT0);

  EXPECT_TRUE(store_->Authenticate(expiring.key, kT0 + 59 * kSecond).has_value());
  ExpectRejected(*store_, expiring.key, kT0 + 60 * kSecond);
  ExpectRejected(*store_, expiring.key, kT0 + 3600 * kSecond);

  ASSERT_TRUE(store_->Authenticate(live.key, kT0).has_value());
  ASSERT_TRUE(store_->Revoke(live.record.key_id, "admin00000000000", kT0 + kSecond).ok());
  // Effective for the very next request, no reload.
  ExpectRejected(*store_, live.key, kT0 + kSecond);
  ExpectRejected(*store_, live.key, kT0 + 2 * kSecond);
}

TEST_F(KeyStoreTest, RevokeIsIdempotentAuditedAndDurable) {
  IssuedKey k = MustCreate(Role::kWriteAgent, "demo");
  EXPECT_EQ(store_->Revoke("0123456789abcdef", "a", kT0).code(), Status::Code::kNotFound);
  ASSERT_TRUE(store_->Revoke(k.record.key_id, "admin00000000000", kT0 + kSecond).ok());
  ASSERT_TRUE(store_->Revoke(k.record.key_id, "admin00000000000", kT0 + 2 * kSecond).ok());
  std::vector<AuditRecord> audit = Audit();
  ASSERT_EQ(audit.size(), 2u) << "the second revoke changes nothing and is not recorded";
  EXPECT_EQ(audit[0].action, "key.revoke");
  EXPECT_EQ(audit[0].actor_key_id, "admin00000000000");
  EXPECT_EQ(audit[1].action, "key.create");
  Result<KeyRecord> got = store_->Get(k.record.key_id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->revoked_at_us, kT0 + kSecond);

  ASSERT_NO_FATAL_FAILURE(Restart());
  ExpectRejected(*store_, k.key, kT0 + 3 * kSecond);
  EXPECT_EQ(store_->Get(k.record.key_id)->revoked_at_us, kT0 + kSecond);
  EXPECT_EQ(Audit().size(), 2u);
}

TEST_F(KeyStoreTest, RotateWithoutGraceStopsTheOldKeyAtOnce) {
  const CreateKeyRequest request{"agent", Role::kWriteAgent, "demo", RateLimitSpec{7, 8}};
  Result<IssuedKey> old_key = store_->Create(request, "admin00000000000", kT0);
  ASSERT_TRUE(old_key.has_value());
  Result<IssuedKey> rotated =
      store_->Rotate(old_key->record.key_id, 0, "admin00000000000", kT0 + kSecond);
  ASSERT_TRUE(rotated.has_value()) << rotated.error().ToString();
  EXPECT_NE(rotated->key, old_key->key);
  EXPECT_EQ(rotated->record.label, "agent");
  EXPECT_EQ(rotated->record.project, "demo");
  EXPECT_EQ(rotated->record.role, Role::kWriteAgent);
  EXPECT_EQ(rotated->record.rate_limit->ToString(), "7/s,8");

  ExpectRejected(*store_, old_key->key, kT0 + kSecond);
  Result<Principal> p = store_->Authenticate(rotated->key, kT0 + kSecond);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->project, "demo");
  EXPECT_EQ(store_->Get(old_key->record.key_id)->rotated_to, rotated->record.key_id);

  // A rotated-away key cannot be rotated again (or revived).
  EXPECT_EQ(store_->Rotate(old_key->record.key_id, 0, "a", kT0 + 2 * kSecond).error().code(),
            Status::Code::kConflict);
  std::vector<AuditRecord> audit = Audit();
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[0].action, "key.rotate");
  EXPECT_EQ(audit[0].target, old_key->record.key_id);
  EXPECT_NE(audit[0].detail.find(rotated->record.key_id), std::string::npos);
  EXPECT_EQ(store_->List().size(), 2u);
}

TEST_F(KeyStoreTest, RotateWithGraceKeepsTheOldKeyUntilGraceEnd) {
  IssuedKey old_key = MustCreate(Role::kReadOnly, "demo");
  const int64_t rotated_at = kT0 + 10 * kSecond;
  Result<IssuedKey> rotated = store_->Rotate(old_key.record.key_id, 300, "a", rotated_at);
  ASSERT_TRUE(rotated.has_value());
  EXPECT_TRUE(store_->Authenticate(old_key.key, rotated_at).has_value());
  EXPECT_TRUE(store_->Authenticate(old_key.key, rotated_at + 299 * kSecond).has_value());
  EXPECT_TRUE(store_->Authenticate(rotated->key, rotated_at + 299 * kSecond).has_value());
  ExpectRejected(*store_, old_key.key, rotated_at + 300 * kSecond);
  EXPECT_TRUE(store_->Authenticate(rotated->key, rotated_at + 300 * kSecond).has_value());

  // The grace period survives a restart.
  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_TRUE(store_->Authenticate(old_key.key, rotated_at + 299 * kSecond).has_value());
  ExpectRejected(*store_, old_key.key, rotated_at + 301 * kSecond);

  // Revoking inside the grace period ends it now.
  ASSERT_TRUE(store_->Revoke(old_key.record.key_id, "a", rotated_at + kSecond).ok());
  ExpectRejected(*store_, old_key.key, rotated_at + kSecond);
  EXPECT_EQ(store_->Rotate(rotated->record.key_id, -1, "a", rotated_at).error().code(),
            Status::Code::kInvalidArgument);
}

TEST_F(KeyStoreTest, RotatedKeyKeepsTheLifetimeNotTheDeadline) {
  IssuedKey k = MustCreate(Role::kReadOnly, "demo", kT0 + 100 * kSecond);
  Result<IssuedKey> rotated = store_->Rotate(k.record.key_id, 0, "a", kT0 + 50 * kSecond);
  ASSERT_TRUE(rotated.has_value());
  EXPECT_EQ(rotated->record.expires_at_us, kT0 + 150 * kSecond);
  IssuedKey expired = MustCreate(Role::kReadOnly, "demo", kT0 + kSecond);
  EXPECT_EQ(store_->Rotate(expired.record.key_id, 0, "a", kT0 + 2 * kSecond).error().code(),
            Status::Code::kConflict);
}

TEST_F(KeyStoreTest, SeedRootKeyIsIdempotentAcrossReopen) {
  const std::string root = GenerateKey();
  EXPECT_EQ(store_->SeedRootKey("steme_live_short", kT0).error().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->SeedRootKey("steme_live_short", kT0).error().message().find("short"),
            std::string::npos);
  Result<bool> seeded = store_->SeedRootKey(root, kT0);
  ASSERT_TRUE(seeded.has_value());
  EXPECT_TRUE(*seeded);
  EXPECT_FALSE(*store_->SeedRootKey(root, kT0 + kSecond));
  Result<Principal> p = store_->Authenticate(root, kT0 + kSecond);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->role, Role::kAdmin);
  EXPECT_EQ(p->project, "");
  EXPECT_EQ(p->label, "root");

  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_FALSE(store_->empty());
  Result<bool> again = store_->SeedRootKey(root, kT0 + 2 * kSecond);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
  std::vector<KeyRecord> keys = store_->List();
  ASSERT_EQ(keys.size(), 1u) << "no duplicate root key";
  EXPECT_TRUE(keys[0].is_root);
  EXPECT_EQ(keys[0].created_at_us, kT0) << "no change when present";
  EXPECT_TRUE(store_->Authenticate(root, kT0 + 2 * kSecond).has_value());
  std::vector<AuditRecord> audit = Audit();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].action, "key.seed_root");

  // A revoked root key stays revoked, even after a restart that seeds it.
  ASSERT_TRUE(store_->Revoke(keys[0].key_id, keys[0].key_id, kT0 + 3 * kSecond).ok());
  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_FALSE(*store_->SeedRootKey(root, kT0 + 4 * kSecond));
  ExpectRejected(*store_, root, kT0 + 4 * kSecond);
  EXPECT_EQ(store_->List().size(), 1u);
}

TEST_F(KeyStoreTest, KeysCreatedBeforeRestartStillWork) {
  IssuedKey a = MustCreate(Role::kWriteAgent, "alpha");
  IssuedKey b = MustCreate(Role::kReadOnly, "beta");
  ASSERT_NO_FATAL_FAILURE(Restart());
  Result<Principal> pa = store_->Authenticate(a.key, kT0);
  Result<Principal> pb = store_->Authenticate(b.key, kT0);
  ASSERT_TRUE(pa.has_value());
  ASSERT_TRUE(pb.has_value());
  EXPECT_EQ(pa->project, "alpha");
  EXPECT_EQ(pa->role, Role::kWriteAgent);
  EXPECT_EQ(pb->project, "beta");
  EXPECT_EQ(pb->role, Role::kReadOnly);
  EXPECT_EQ(store_->List().size(), 2u);
}

TEST_F(KeyStoreTest, ListMergesLastUsedFromTheMeter) {
  IssuedKey k = MustCreate(Role::kReadOnly, "demo");
  UsageMeter meter(db_.get(), true);
  store_->SetUsageMeter(&meter);
  EXPECT_EQ(store_->List()[0].last_used_at_us, 0);
  meter.RecordRequest(k.record.key_id, "demo", 10, 20, kT0 + 5 * kSecond);
  EXPECT_EQ(store_->List()[0].last_used_at_us, kT0 + 5 * kSecond);
  EXPECT_EQ(store_->Get(k.record.key_id)->last_used_at_us, kT0 + 5 * kSecond);
  boost::json::object o = boost::json::parse(KeyRecordJson(store_->List()[0], kT0)).as_object();
  EXPECT_EQ(o.at("last_used_at").as_string(), "2027-01-15T08:00:05.000000Z");
  store_->SetUsageMeter(nullptr);
}

TEST_F(KeyStoreTest, RevocationIsVisibleToOtherThreadsAtOnce) {
  IssuedKey k = MustCreate(Role::kWriteAgent, "demo");
  std::atomic<bool> revoked{false};
  std::atomic<bool> stop{false};
  std::atomic<int> accepted_after_revoke{0};
  std::atomic<int> accepted_before{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const bool after = revoked.load(std::memory_order_acquire);
        const bool ok = store_->Authenticate(k.key, kT0 + kSecond).has_value();
        if (ok && after) accepted_after_revoke.fetch_add(1);
        if (ok && !after) accepted_before.fetch_add(1);
      }
    });
  }
  // Mutations of other keys run concurrently with the readers.
  for (int i = 0; i < 5; ++i) {
    IssuedKey other = MustCreate(Role::kReadOnly, "demo");
    ASSERT_TRUE(store_->Revoke(other.record.key_id, "a", kT0).ok());
  }
  while (accepted_before.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(store_->Revoke(k.record.key_id, "a", kT0).ok());
  revoked.store(true, std::memory_order_release);
  for (int i = 0; i < 1000; ++i) ExpectRejected(*store_, k.key, kT0 + kSecond);
  stop.store(true);
  for (auto& th : readers) th.join();
  EXPECT_EQ(accepted_after_revoke.load(), 0);
}

}  // namespace
}  // namespace stemedb::auth
