#include "api/services.h"

#include "util/time_format.h"

namespace stemedb::api {

Result<AuthServices> OpenAuthServices(engine::Database* db, const ServerConfig& config) {
  AuthServices a;
  a.audit = std::make_unique<auth::AuditLog>(db);
  a.keys = std::make_unique<auth::KeyStore>(db, a.audit.get());
  a.agents = std::make_unique<auth::AgentRegistry>(db, a.audit.get());
  a.meter = std::make_unique<auth::UsageMeter>(db, config.meter_enabled);
  a.keys->SetUsageMeter(a.meter.get());  // key listings show last_used_at
  a.limiter = std::make_unique<auth::RateLimiter>(config.rate_limit_spec);
  a.projects = std::make_unique<ProjectRegistry>(
      db, a.audit.get(), ProjectDefaults{config.project_max_assertions, config.project_max_bytes});
  struct Loader {
    const char* what;
    std::function<Status()> load;
  };
  // The audit log first: it finds the last sequence number before anything
  // is audited.
  for (const Loader& l : {Loader{"audit log", [&a] { return a.audit->Load(); }},
                          Loader{"key store", [&a] { return a.keys->Load(); }},
                          Loader{"agent registry", [&a] { return a.agents->Load(); }},
                          Loader{"usage meter", [&a] { return a.meter->Load(); }}}) {
    if (Status s = l.load(); !s.ok()) {
      return Status::Failed(std::string("cannot load the ") + l.what + ": " + s.ToString());
    }
  }
  // Projects that have keys or data but no record yet (a store from before
  // the registry) are registered once; a store refusing writes (a standby)
  // gets them from its primary's log.
  if (db->write_refusal().ok()) {
    auto registered = a.projects->RegisterExisting(*a.keys, UnixMicrosNow());
    if (!registered) {
      return Status::Failed("cannot register existing projects: " + registered.error().ToString());
    }
  }
  return a;
}

Services MakeServices(const ServerConfig* config, engine::Database* db, const AuthServices& auth,
                      Metrics* metrics, DiskMonitor* disk) {
  Services s;
  s.config = config;
  s.db = db;
  s.keys = auth.keys.get();
  s.agents = auth.agents.get();
  s.audit = auth.audit.get();
  s.limiter = auth.limiter.get();
  s.meter = auth.meter.get();
  s.projects = auth.projects.get();
  s.metrics = metrics;
  s.disk = disk;
  s.data_dir = config->data_dir;
  s.wal_dir = config->wal_dir;
  s.db_dir = config->db_dir;
  return s;
}

}  // namespace stemedb::api
