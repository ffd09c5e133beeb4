// Services: everything the router (api/router.h) needs, handed over by the
// composition root (api/app.cc) once the store is open. Plain pointers: the
// App owns every object and keeps it alive until the server has drained, so
// the router may use them for as long as it lives.
//
// AuthServices, OpenAuthServices and MakeServices are the one wiring of the
// auth/ objects and the router's view of them: the App, the router tests and
// the HTTP fuzz target all build them this way.
//
// `ready` and `health_json` are provided by the App so /v1/ready and
// /v1/health reflect the whole process (replay, WAL health, disk space),
// not just what the router sees.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/config.h"
#include "api/disk_monitor.h"
#include "api/metrics.h"
#include "api/project_registry.h"
#include "auth/agent_registry.h"
#include "auth/audit_log.h"
#include "auth/key_store.h"
#include "auth/rate_limiter.h"
#include "auth/usage_meter.h"
#include "engine/database.h"
#include "util/status.h"

namespace stemedb::api {

// Division of bookkeeping between transport and router, so nothing is
// counted twice. After a reply (or stream) has been written, the TRANSPORT
// records, from RequestMeta:
//   Metrics::ObserveRequest(meta.route, method, status, duration),
//   Metrics::AddAssertionsWritten(meta.project, meta.assertions_written) if > 0,
//   the request log line (api/request_log.h).
// The ROUTER does every UsageMeter call (RecordRequest, RecordAssertions,
// RecordRateLimited) and Metrics::AddRateLimited on a 429. It fills
// meta.route (a template), meta.key_id, meta.project and
// meta.assertions_written.
struct Services {
  const ServerConfig* config = nullptr;
  engine::Database* db = nullptr;
  auth::KeyStore* keys = nullptr;
  auth::AgentRegistry* agents = nullptr;
  auth::AuditLog* audit = nullptr;
  auth::RateLimiter* limiter = nullptr;
  auth::UsageMeter* meter = nullptr;
  ProjectRegistry* projects = nullptr;
  Metrics* metrics = nullptr;
  DiskMonitor* disk = nullptr;
  // True when replay is done, the store is writable (WAL not fail-stopped),
  // and not shutting down. Disk space is reported separately (writes 507,
  // reads fine): see DiskMonitor::writes_allowed().
  std::function<bool()> ready;
  // Whether authenticated routes run at all: false while draining. Unlike
  // `ready` it stays true after a WAL fail-stop, so reads of what was
  // applied (all of it acknowledged and durable) go on while writes get 503.
  // Unset = use `ready`.
  std::function<bool()> serving;
  // Liveness: false only when a restart is the way back, i.e. the WAL
  // fail-stopped on an I/O error (fdatasync EIO: PostgreSQL's lesson, the
  // page cache may have dropped the data; replay after a restart is the only
  // trustworthy state). A full disk keeps liveness true (etcd #14497: a
  // restart loop fixes nothing). Unset = always live.
  std::function<bool()> live;
  // The body of GET /v1/health and /v1/ready: {"status":..., ...}.
  std::function<std::string()> health_json;
  // POST /v1/admin/promote (docs/backup.md "Warm standby"): starts the
  // promotion of this standby on a thread of the App and calls `done`
  // there with the reply's JSON body once it takes writes, or the error
  // (Conflict: not a standby; Busy: a promotion is running). Unset = not a
  // standby.
  std::function<void(std::function<void(Result<std::string>)> done)> promote;
  std::string data_dir;
  std::string wal_dir;
  std::string db_dir;
};

// The auth/ objects over one open Database. Declared in dependency order:
// the audit log first (the key store and agent registry write their records
// through it), the limiter last; destroyed in reverse.
struct AuthServices {
  std::unique_ptr<auth::AuditLog> audit;
  std::unique_ptr<auth::KeyStore> keys;
  std::unique_ptr<auth::AgentRegistry> agents;
  std::unique_ptr<auth::UsageMeter> meter;
  std::unique_ptr<auth::RateLimiter> limiter;
  std::unique_ptr<ProjectRegistry> projects;
};

// Constructs and loads every AuthServices object over `db` (which must
// outlive them), configured from `config` (STEMEDB_METER_ENABLED,
// STEMEDB_RATE_LIMIT). On a load failure the Status says which one, e.g.
// "cannot load the key store: Corruption: ...".
Result<AuthServices> OpenAuthServices(engine::Database* db, const ServerConfig& config);

// Services over objects the caller owns; the directories come from `config`.
// The process callbacks (ready, serving, live, health_json) are the
// caller's to set.
Services MakeServices(const ServerConfig* config, engine::Database* db, const AuthServices& auth,
                      Metrics* metrics, DiskMonitor* disk);

}  // namespace stemedb::api
