// ServerConfig: every setting of the `stemedb` server (docs/configuration.md), read from
// the environment (STEMEDB_*) and from the same names as command-line flags
// (STEMEDB_WAL_SYNC <-> --wal-sync). A flag wins over the environment, the
// environment over the default. docs/configuration.md lists every variable.
//
// Parsing never exits and never logs: it returns the config, the warnings to
// log (unknown STEMEDB_* variables, naming the closest known one) and, on a
// bad value, an InvalidArgument Status whose message is one line naming the
// variable, e.g. "STEMEDB_WAL_SYNC: expected always|interval|none, got 'sometimes'".
// main.cc prints that line and exits 1.
//
// The root API key is held here only to seed it; nothing ever prints a
// ServerConfig field that may hold it (see Describe()).
//
// Each module's options are built from the config here, once (the
// *OptionsFrom functions below), so that startup (api/app.cc) copies no
// field by hand and a new setting is wired in one place: its row in
// config.cc's table and the builder of the module it configures.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/disk_monitor.h"
#include "api/retention_sweeper.h"
#include "auth/key_store.h"
#include "backup/wal_archiver.h"
#include "backup/wal_follower.h"
#include "engine/database.h"
#include "engine/store_identity.h"
#include "util/logging.h"
#include "util/status.h"
#include "wal/wal.h"

namespace stemedb::api {

struct ServerConfig {
  // --- contract variables (docs/configuration.md) ---------------------
  std::string bind_addr = "127.0.0.1:18180";  // as given
  std::string bind_host = "127.0.0.1";        // parsed from bind_addr
  uint16_t bind_port = 18180;                 // 0 = any free port (tests)
  std::string data_dir = "./stemedb-data";
  std::string wal_dir;  // resolved: $DATA_DIR/wal unless set
  std::string db_dir;   // resolved: $DATA_DIR/db unless set
  wal::SyncPolicy wal_sync = wal::SyncPolicy::kAlways;
  std::chrono::milliseconds wal_sync_interval{10};
  uint64_t wal_segment_bytes = 67108864;
  bool auth_enabled = true;
  std::string root_api_key;  // "" = not given. Never log.
  bool unsafe_skip_signatures = false;
  bool meter_enabled = true;
  std::string rate_limit = "200/s,400";  // as given
  auth::RateLimitSpec rate_limit_spec;   // parsed
  uint64_t max_body_bytes = 1048576;
  uint64_t min_free_bytes = 268435456;
  std::vector<std::string> allowed_origins;  // empty = no CORS headers
  std::string tls_cert_path;
  std::string tls_key_path;
  log::Format log_format = log::Format::kText;
  log::Level log_level = log::Level::kInfo;

  // --- transport and operations (docs/configuration.md) -------------------
  // Graceful shutdown: how long in-flight requests may take after SIGTERM.
  std::chrono::milliseconds drain_timeout{20000};
  // Connections beyond this are accepted and closed at once.
  size_t max_connections = 1024;
  // A request's header must arrive within this (also the keep-alive idle
  // limit between requests): slowloris cannot hold a connection.
  std::chrono::milliseconds header_timeout{10000};
  // The body must arrive within this after the header.
  std::chrono::milliseconds body_timeout{30000};
  // 0 = max(2, hardware threads).
  size_t io_threads = 0;
  // How often the usage meter is persisted (a crash loses at most this much).
  std::chrono::milliseconds usage_flush_interval{10000};
  // Writes admitted concurrently before the router answers 503 (overload).
  size_t max_inflight_writes = 4096;

  // --- continuous WAL archiving (backup/wal_archiver.h) ------------------
  // REMOTE:PATH of the backups; segments go to REMOTE:PATH/wal/. "" = off.
  std::string archive_remote;
  // The active segment is sealed and shipped once its oldest record is this
  // old: the recovery point. Default 1 s.
  std::chrono::milliseconds archive_interval{1000};
  // Warm standby (docs/backup.md "Warm standby"): follow archive_remote
  // read-only until promoted (POST /v1/admin/promote). Default false.
  bool standby = false;
  // How often a standby lists the archive. Default 1 s.
  std::chrono::milliseconds standby_poll_interval{1000};

  // --- projects (docs/projects.md) -------------------------------------------
  // Limits given to a project registered without its own (0 = unlimited);
  // resolved into the project's record when it is registered.
  uint64_t project_max_assertions = 0;
  uint64_t project_max_bytes = 0;
  // Refuse API keys for a project that is not registered (else registering
  // it with the defaults above). Default false.
  bool project_registry_strict = false;
  // Time between retention sweeps (api/retention_sweeper.h); 0 = no sweeps.
  std::chrono::milliseconds retention_interval{300000};
  // Ids per erase entry of a sweep. Default 100.
  uint64_t retention_batch_ids = 100;
  // Ids a sweep erases per second at most. Default 2000.
  uint64_t retention_max_per_second = 2000;

  // --- store identity overrides (engine/store_identity.h) -----------------
  // Each lets one start-up refusal pass; every use is logged and audited.
  // Default false.
  bool accept_new_store = false;       // refusals a, d, e
  bool accept_store_mismatch = false;  // refusal b
  bool accept_wal_loss = false;        // refusal c

  bool tls_enabled() const { return !tls_cert_path.empty(); }
  bool loopback_bind() const;
  // One line for the startup log: every setting except the root key (which
  // is shown only as "set"/"unset").
  std::string Describe() const;
};

struct ConfigParseResult {
  ServerConfig config;
  // Unknown STEMEDB_* variables, each naming the closest known one.
  std::vector<std::string> warnings;
  // --help / --version were given: print `output` to stdout and exit 0.
  bool exit_now = false;
  std::string output;
};

struct ServerOptions;  // api/server.h

// The listener and transport: bind address, I/O threads, connection cap,
// body size and timeouts, TLS files.
ServerOptions ServerOptionsFrom(const ServerConfig& config);
// The store: DB and WAL directories, sync policy and interval, segment size,
// inline commit. The caller adds what is not configuration: the WAL's Env and
// probe, and the store identity (engine::StoreIdentity::ApplyTo).
engine::DatabaseOptions DatabaseOptionsFrom(const ServerConfig& config);
// The WAL archiver (only meaningful when archive_remote is set): remote,
// interval, WAL dir, rclone with bounded retries.
backup::WalArchiverOptions WalArchiverOptionsFrom(const ServerConfig& config);
// A standby's follower (backup/wal_follower.h): the archive, the poll
// interval, $DATA_DIR/standby-fetch for the segment being applied, rclone
// as for the archiver.
backup::WalFollowerOptions WalFollowerOptionsFrom(const ServerConfig& config);
// Where the store lives, for engine::StoreIdentity (no restored snapshot).
engine::StoreLayout StoreLayoutFrom(const ServerConfig& config);
// STEMEDB_ACCEPT_*: the start-up refusals the operator lets pass.
engine::IdentityOverrides IdentityOverridesFrom(const ServerConfig& config);
// The volumes the disk monitor watches: the WAL's and the DB's.
std::vector<DiskMonitor::Volume> DiskVolumesFrom(const ServerConfig& config);
// The retention sweeper's options (interval, batch, rate).
RetentionOptions RetentionOptionsFrom(const ServerConfig& config);

// Parses `argv` (flags) over `env` (name -> value; pass CurrentEnvironment()).
// InvalidArgument with a one-line message on any bad value or unknown flag.
Result<ConfigParseResult> ParseConfig(int argc, const char* const* argv,
                                      const std::map<std::string, std::string>& env);

// The process environment as a map (only STEMEDB_* entries).
std::map<std::string, std::string> CurrentEnvironment();

// Every known STEMEDB_* variable name, in documentation order.
const std::vector<std::string>& KnownVariables();

// Levenshtein distance; exposed for tests.
size_t EditDistance(std::string_view a, std::string_view b);

// True for "localhost", 127.0.0.0/8 and ::1.
bool IsLoopbackHost(std::string_view host);

}  // namespace stemedb::api
