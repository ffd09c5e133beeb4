#include "api/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "api/server.h"

namespace stemedb::api {
namespace {

using Env = std::map<std::string, std::string>;

Result<ConfigParseResult> Parse(const Env& env, std::vector<const char*> args = {}) {
  args.insert(args.begin(), "stemedb");
  return ParseConfig(static_cast<int>(args.size()), args.data(), env);
}

TEST(ConfigTest, DefaultsMatchSpec) {
  auto r = Parse({});
  ASSERT_TRUE(r) << r.error().ToString();
  const ServerConfig& c = r->config;
  EXPECT_EQ(c.bind_addr, "127.0.0.1:18180");
  EXPECT_EQ(c.bind_host, "127.0.0.1");
  EXPECT_EQ(c.bind_port, 18180);
  EXPECT_EQ(c.data_dir, "./stemedb-data");
  EXPECT_EQ(c.wal_dir, "./stemedb-data/wal");
  EXPECT_EQ(c.db_dir, "./stemedb-data/db");
  EXPECT_EQ(c.wal_sync, wal::SyncPolicy::kAlways);
  EXPECT_EQ(c.wal_sync_interval, std::chrono::milliseconds(10));
  EXPECT_EQ(c.wal_segment_bytes, 67108864u);
  EXPECT_TRUE(c.auth_enabled);
  EXPECT_TRUE(c.root_api_key.empty());
  EXPECT_FALSE(c.unsafe_skip_signatures);
  EXPECT_TRUE(c.meter_enabled);
  EXPECT_EQ(c.rate_limit_spec.rate_per_second, 200);
  EXPECT_EQ(c.rate_limit_spec.burst, 400);
  EXPECT_EQ(c.max_body_bytes, 1048576u);
  EXPECT_EQ(c.min_free_bytes, 268435456u);
  EXPECT_TRUE(c.allowed_origins.empty());
  EXPECT_FALSE(c.tls_enabled());
  EXPECT_EQ(c.log_format, log::Format::kText);
  EXPECT_EQ(c.log_level, log::Level::kInfo);
  EXPECT_EQ(c.drain_timeout, std::chrono::seconds(20));
  EXPECT_GE(c.io_threads, 2u);
  EXPECT_EQ(c.retention_interval, std::chrono::minutes(5));
  EXPECT_EQ(c.retention_batch_ids, 100u);
  EXPECT_EQ(c.retention_max_per_second, 2000u);
  EXPECT_TRUE(c.loopback_bind());
  EXPECT_TRUE(r->warnings.empty());
}

TEST(ConfigTest, EnvironmentIsApplied) {
  auto r = Parse({{"STEMEDB_BIND_ADDR", "0.0.0.0:9000"},
                  {"STEMEDB_DATA_DIR", "/data"},
                  {"STEMEDB_WAL_DIR", "/wal"},
                  {"STEMEDB_WAL_SYNC", "interval"},
                  {"STEMEDB_WAL_SYNC_INTERVAL_MS", "25"},
                  {"STEMEDB_AUTH_ENABLED", "false"},
                  {"STEMEDB_METER_ENABLED", "0"},
                  {"STEMEDB_RATE_LIMIT", "5/s,10"},
                  {"STEMEDB_ALLOWED_ORIGINS", "https://a.example, https://b.example"},
                  {"STEMEDB_LOG_FORMAT", "json"},
                  {"STEMEDB_LOG_LEVEL", "debug"}});
  ASSERT_TRUE(r) << r.error().ToString();
  const ServerConfig& c = r->config;
  EXPECT_EQ(c.bind_host, "0.0.0.0");
  EXPECT_EQ(c.bind_port, 9000);
  EXPECT_FALSE(c.loopback_bind());
  EXPECT_EQ(c.wal_dir, "/wal");
  EXPECT_EQ(c.db_dir, "/data/db");
  EXPECT_EQ(c.wal_sync, wal::SyncPolicy::kInterval);
  EXPECT_EQ(c.wal_sync_interval, std::chrono::milliseconds(25));
  EXPECT_FALSE(c.auth_enabled);
  EXPECT_FALSE(c.meter_enabled);
  EXPECT_EQ(c.rate_limit_spec.rate_per_second, 5);
  EXPECT_EQ(c.rate_limit_spec.burst, 10);
  EXPECT_EQ(c.allowed_origins,
            (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_EQ(c.log_format, log::Format::kJson);
  EXPECT_EQ(c.log_level, log::Level::kDebug);
}

TEST(ConfigTest, FlagWinsOverEnvironment) {
  auto r = Parse({{"STEMEDB_WAL_SYNC", "none"}, {"STEMEDB_MAX_BODY_BYTES", "2048"}},
                 {"--wal-sync", "interval", "--bind-addr=[::1]:0"});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->config.wal_sync, wal::SyncPolicy::kInterval);
  EXPECT_EQ(r->config.max_body_bytes, 2048u);
  EXPECT_EQ(r->config.bind_host, "::1");
  EXPECT_EQ(r->config.bind_port, 0);
  EXPECT_TRUE(r->config.loopback_bind());
}

// Startup copies no field by hand: each module's options come from its
// builder, so every setting it carries must arrive there.
TEST(ConfigTest, ModuleOptionsCarryTheirSettings) {
  auto r = Parse({{"STEMEDB_BIND_ADDR", "0.0.0.0:9000"},
                  {"STEMEDB_DATA_DIR", "/d"},
                  {"STEMEDB_WAL_DIR", "/w"},
                  {"STEMEDB_WAL_SYNC", "interval"},
                  {"STEMEDB_WAL_SYNC_INTERVAL_MS", "7"},
                  {"STEMEDB_WAL_SEGMENT_BYTES", "1048576"},
                  {"STEMEDB_MAX_BODY_BYTES", "4096"},
                  {"STEMEDB_TLS_CERT_PATH", "/c.pem"},
                  {"STEMEDB_TLS_KEY_PATH", "/k.pem"},
                  {"STEMEDB_MAX_CONNECTIONS", "12"},
                  {"STEMEDB_HEADER_TIMEOUT_MS", "1500"},
                  {"STEMEDB_BODY_TIMEOUT_MS", "2500"},
                  {"STEMEDB_IO_THREADS", "3"},
                  {"STEMEDB_RETENTION_INTERVAL_MS", "60000"},
                  {"STEMEDB_RETENTION_BATCH_IDS", "50"},
                  {"STEMEDB_RETENTION_MAX_PER_SECOND", "2000"},
                  {"STEMEDB_ACCEPT_WAL_LOSS", "true"}});
  ASSERT_TRUE(r) << r.error().ToString();
  const ServerConfig& c = r->config;

  ServerOptions server = ServerOptionsFrom(c);
  EXPECT_EQ(server.host, "0.0.0.0");
  EXPECT_EQ(server.port, 9000);
  EXPECT_EQ(server.io_threads, 3u);
  EXPECT_EQ(server.max_connections, 12u);
  EXPECT_EQ(server.transport.max_body_bytes, 4096u);
  EXPECT_EQ(server.transport.header_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(server.transport.body_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(server.tls_cert_path, "/c.pem");
  EXPECT_EQ(server.tls_key_path, "/k.pem");

  engine::DatabaseOptions db = DatabaseOptionsFrom(c);
  EXPECT_EQ(db.db_dir, "/d/db");
  EXPECT_EQ(db.wal.dir, "/w");
  EXPECT_EQ(db.wal.sync_policy, wal::SyncPolicy::kInterval);
  EXPECT_EQ(db.wal.sync_interval, std::chrono::milliseconds(7));
  EXPECT_EQ(db.wal.segment_bytes, 1048576u);
  EXPECT_TRUE(db.wal.inline_commit);  // needs a second I/O thread
  ServerConfig one_thread = c;
  one_thread.io_threads = 1;
  EXPECT_FALSE(DatabaseOptionsFrom(one_thread).wal.inline_commit);

  engine::StoreLayout layout = StoreLayoutFrom(c);
  EXPECT_EQ(layout.data_dir, "/d");
  EXPECT_EQ(layout.wal_dir, "/w");
  EXPECT_EQ(layout.db_dir, "/d/db");
  engine::IdentityOverrides overrides = IdentityOverridesFrom(c);
  EXPECT_FALSE(overrides.accept_new_store);
  EXPECT_FALSE(overrides.accept_store_mismatch);
  EXPECT_TRUE(overrides.accept_wal_loss);
  std::vector<DiskMonitor::Volume> volumes = DiskVolumesFrom(c);
  ASSERT_EQ(volumes.size(), 2u);
  EXPECT_EQ(volumes[0].path, "/w");
  EXPECT_EQ(volumes[1].path, "/d/db");
  RetentionOptions retention = RetentionOptionsFrom(c);
  EXPECT_EQ(retention.interval, std::chrono::minutes(1));
  EXPECT_EQ(retention.batch, 50u);
  EXPECT_EQ(retention.max_per_second, 2000u);
  EXPECT_FALSE(retention.now_us);  // the real clock
}

TEST(ConfigTest, BadValuesGiveOneLineNamingTheVariable) {
  struct Case {
    const char* var;
    const char* value;
  };
  for (Case c :
       {Case{"STEMEDB_WAL_SYNC", "sometimes"}, Case{"STEMEDB_BIND_ADDR", "nohost"},
        Case{"STEMEDB_BIND_ADDR", "127.0.0.1:70000"}, Case{"STEMEDB_BIND_ADDR", "example.com:80"},
        Case{"STEMEDB_AUTH_ENABLED", "maybe"}, Case{"STEMEDB_MAX_BODY_BYTES", "12abc"},
        Case{"STEMEDB_MAX_BODY_BYTES", "-1"}, Case{"STEMEDB_RATE_LIMIT", "fast"},
        Case{"STEMEDB_LOG_FORMAT", "xml"}, Case{"STEMEDB_LOG_LEVEL", "loud"},
        Case{"STEMEDB_WAL_SEGMENT_BYTES", "1"}, Case{"STEMEDB_RETENTION_BATCH_IDS", "0"},
        Case{"STEMEDB_RETENTION_BATCH_IDS", "10001"}, Case{"STEMEDB_RETENTION_MAX_PER_SECOND", "0"},
        Case{"STEMEDB_RETENTION_MAX_PER_SECOND", "5k"},
        Case{"STEMEDB_RETENTION_MAX_PER_SECOND", "1000001"}}) {
    auto r = Parse({{c.var, c.value}});
    ASSERT_FALSE(r) << c.var << "=" << c.value;
    Status err = r.error();
    const std::string& msg = err.message();
    EXPECT_EQ(err.code(), Status::Code::kInvalidArgument);
    EXPECT_NE(msg.find(c.var), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(ConfigTest, UnknownFlagIsAnError) {
  auto r = Parse({}, {"--wal-synch", "none"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message().find('\n'), std::string::npos);
}

TEST(ConfigTest, TlsNeedsBothFiles) {
  EXPECT_FALSE(Parse({{"STEMEDB_TLS_CERT_PATH", "/c.pem"}}));
  auto r = Parse({{"STEMEDB_TLS_CERT_PATH", "/c.pem"}, {"STEMEDB_TLS_KEY_PATH", "/k.pem"}});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->config.tls_enabled());
}

TEST(ConfigTest, SameWalAndDbDirIsRefused) {
  EXPECT_FALSE(Parse({{"STEMEDB_WAL_DIR", "/x"}, {"STEMEDB_DB_DIR", "/x"}}));
}

TEST(ConfigTest, UnknownVariableWarnsWithClosestKnownName) {
  auto r = Parse({{"STEMEDB_WAL_SYNCH", "none"},
                  {"STEMEDB_API_SERVICE_PORT", "18180"},
                  {"STEMEDB_DATA_DIR", "/d"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->warnings.size(), 2u);
  // std::map order: STEMEDB_API_SERVICE_PORT first.
  EXPECT_NE(r->warnings[0].find("STEMEDB_API_SERVICE_PORT"), std::string::npos);
  EXPECT_NE(r->warnings[1].find("STEMEDB_WAL_SYNCH"), std::string::npos);
  EXPECT_NE(r->warnings[1].find("closest: STEMEDB_WAL_SYNC)"), std::string::npos) << r->warnings[1];
  // The unknown variable's value never changes the config.
  EXPECT_EQ(r->config.wal_sync, wal::SyncPolicy::kAlways);
}

TEST(ConfigTest, EditDistance) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("abc", "abc"), 0u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
}

TEST(ConfigTest, LoopbackHosts) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.5.6.7"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("::"));
}

TEST(ConfigTest, DescribeNeverShowsTheRootKey) {
  const std::string key = "steme_live_" + std::string(48, 'a');
  auto r = Parse({{"STEMEDB_ROOT_API_KEY", key}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->config.root_api_key, key);
  std::string d = r->config.Describe();
  EXPECT_EQ(d.find(key), std::string::npos);
  EXPECT_NE(d.find("root_key=set"), std::string::npos);
}

TEST(ConfigTest, HelpListsEveryVariable) {
  auto r = Parse({}, {"--help"});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->exit_now);
  for (const auto& v : KnownVariables()) EXPECT_NE(r->output.find(v), std::string::npos) << v;
}

TEST(ConfigTest, DocumentationCoversEveryVariable) {
  std::ifstream in(std::string(STEMEDB_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  for (const auto& v : KnownVariables()) EXPECT_NE(ss.str().find(v), std::string::npos) << v;
}

}  // namespace
}  // namespace stemedb::api
