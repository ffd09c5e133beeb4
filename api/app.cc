#include "api/app.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <thread>

#include "api/disk_monitor.h"
#include "api/metrics.h"
#include "api/request_log.h"
#include "api/router.h"
#include "api/server.h"
#include "api/services.h"
#include "api/startup_guards.h"
#include "auth/agent_registry.h"
#include "auth/audit_log.h"
#include "auth/key_store.h"
#include "auth/rate_limiter.h"
#include "auth/usage_meter.h"
#include "backup/restore.h"
#include "engine/store_identity.h"
#include "util/logging.h"
#include "util/time_format.h"

#ifdef STEMEDB_FAILPOINTS
#include "util/fault_injection_env.h"
#endif

namespace stemedb::api {
namespace {

namespace json = boost::json;

int Fail(const std::string& what) {
  // The one line of a refused start (api/startup_guards.h); nothing else on stderr.
  std::fprintf(stderr, "stemedb: %s\n", what.c_str());
  return 1;
}

// Serves the process while the store is being opened: liveness says
// "replaying", metrics work, everything else is 503 so clients retry.
class BootHandler final : public Handler {
 public:
  BootHandler(std::function<std::string()> health, Metrics* metrics)
      : health_(std::move(health)), metrics_(metrics) {}

  void Handle(Request req, std::shared_ptr<RequestMeta> meta, ReplyFn reply, StreamFn) override {
    std::string_view target = req.target();
    target = target.substr(0, target.find('?'));
    Response res{http::status::ok, req.version()};
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::get && target == "/v1/health") {
      meta->route = "/v1/health";
      res.set(http::field::content_type, "application/json");
      res.body() = health_();
    } else if (req.method() == http::verb::get && target == "/metrics") {
      meta->route = "/metrics";
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.body() = metrics_->Render();
    } else {
      if (target == "/v1/ready") meta->route = "/v1/ready";
      res = TransportError(http::status::service_unavailable, "unavailable",
                           "the server is starting (WAL replay in progress)", req.version(),
                           req.keep_alive());
    }
    res.prepare_payload();
    reply(std::move(res));
  }

 private:
  std::function<std::string()> health_;
  Metrics* metrics_;
};

}  // namespace

class App::Impl {
 public:
  Impl(App* app, ServerConfig config) : app_(app), config_(std::move(config)) {}
  // Every path out of Run() after the server started goes through Shutdown();
  // this only makes sure no server thread outlives the members below it.
  ~Impl() {
    if (server_) server_->Stop();
  }

  int Run();

 private:
  bool Ready() const {
    return replay_done_.load() && db_ != nullptr && db_->writable() && !shutting_down_.load();
  }
  Status PrepareStore();
  std::string RestoredMarkerPath() const {
    return config_.db_dir + "/" + std::string(backup::kRestoredMarkerName);
  }
  std::string HealthJson() const;
  bool WaitForStop(std::chrono::milliseconds timeout);
  void Housekeeping();
  int Shutdown(int code);

  App* app_;
  const ServerConfig config_;
  Env* env_ = Env::Default();
  Env* wal_env_ = Env::Default();
#ifdef STEMEDB_FAILPOINTS
  std::unique_ptr<FaultInjectionEnv> fault_env_;
#endif
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<DiskMonitor> disk_;
  engine::ReplayProgress progress_;
  std::atomic<bool> replay_done_{false};
  std::atomic<bool> shutting_down_{false};
  std::unique_ptr<engine::Database> db_;
  engine::IdentityPlan identity_;  // set before the store is opened
  std::unique_ptr<engine::StoreIdentity> store_identity_;
  // The RESTORED marker of a DB dir fresh from `stemectl restore`, if any.
  std::optional<backup::RestoredMarker> restored_;
  std::unique_ptr<auth::AuditLog> audit_;
  std::unique_ptr<auth::KeyStore> keys_;
  std::unique_ptr<auth::AgentRegistry> agents_;
  std::unique_ptr<auth::UsageMeter> meter_;
  std::unique_ptr<auth::RateLimiter> limiter_;
  std::shared_ptr<Handler> router_;
};

std::string App::Impl::HealthJson() const {
  json::object o;
  if (!replay_done_.load()) {
    o["status"] = "replaying";
    o["store_id"] = identity_.store_id;
    json::object p;
    p["records_replayed"] = progress_.records_replayed.load();
    p["start_lsn"] = progress_.start_lsn.load();
    p["end_lsn"] = progress_.end_lsn.load();
    o["progress"] = std::move(p);
    return json::serialize(o);
  }
  bool wal_ok = db_->writable();
  bool disk_ok = disk_->writes_allowed();
  o["status"] = shutting_down_.load() ? "shutting_down"
                : !wal_ok             ? "failed"
                : !disk_ok            ? "degraded"
                                      : "ok";
  o["version"] = STEMEDB_VERSION;
  o["store_id"] = identity_.store_id;
  o["applied_lsn"] = db_->applied_lsn().value();
  json::object w;
  w["healthy"] = wal_ok;
  if (!wal_ok) w["error"] = db_->failure().ToString();
  o["wal"] = std::move(w);
  json::object d;
  d["writes_allowed"] = disk_ok;
  d["min_free_bytes"] = disk_->min_free_bytes();
  json::array vols;
  for (const auto& v : disk_->Snapshot()) {
    json::object vo;
    vo["name"] = v.name;
    vo["free_bytes"] = v.free_bytes;
    vo["low"] = v.low;
    vols.push_back(std::move(vo));
  }
  d["volumes"] = std::move(vols);
  o["disk"] = std::move(d);
  return json::serialize(o);
}

bool App::Impl::WaitForStop(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(app_->mu_);
  return app_->cv_.wait_for(lock, timeout, [this] { return app_->stop_requested_; });
}

// Once a second: readiness gauge, WAL fail-stop log line; every flush
// interval: persist usage counters.
void App::Impl::Housekeeping() {
  auto next_flush = std::chrono::steady_clock::now() + config_.usage_flush_interval;
  bool reported_failure = false;
  while (!WaitForStop(std::chrono::seconds(1))) {
    metrics_->SetReady(Ready());
    if (!db_->writable() && !reported_failure) {
      reported_failure = true;
      log::Error("WAL fail-stopped: writes refused until restart",
                 {{"error", db_->failure().ToString()}});
    }
    if (std::chrono::steady_clock::now() >= next_flush) {
      next_flush += config_.usage_flush_interval;
      Status s = meter_->Flush();
      if (!s.ok()) log::Warn("usage flush failed", {{"error", s.ToString()}});
    }
  }
}

// Guards before the store is opened: no interrupted restore, the store's
// identity (guard 8), directories (6) and the lock (5). Every refusal is a
// one-line Status and leaves nothing written.
Status App::Impl::PrepareStore() {
  // An interrupted `stemectl restore` leaves the DB dir empty or missing:
  // opening it would create an empty store and serve it (backup/restore.h).
  STEMEDB_RETURN_IF_ERROR(backup::CheckNoInterruptedRestore(env_, config_.db_dir));
  // 8: the store's identity (engine/FORMAT.md §6), decided before any
  // directory is created so that a refusal writes nothing. A data root in
  // use is locked first (its LOCK exists: taking it writes nothing), so
  // that decision is already made under the lock; otherwise it is made
  // again once the lock is held. A DB dir fresh from `stemectl restore`
  // says which snapshot it holds (backup/restore.h).
  const std::string restored_path = RestoredMarkerPath();
  if (env_->FileExists(restored_path)) {
    auto text = ReadFileToString(env_, restored_path);
    auto marker =
        text ? backup::RestoredMarker::Parse(*text) : Result<backup::RestoredMarker>(text.error());
    if (!marker) return Status::Corruption(restored_path + ": " + marker.error().message());
    restored_ = std::move(*marker);
  }
  engine::StoreLayout layout{config_.data_dir, config_.wal_dir, config_.db_dir, std::nullopt};
  if (restored_) layout.restored_snapshot_lsn = Lsn(restored_->snapshot_lsn);
  store_identity_ = std::make_unique<engine::StoreIdentity>(
      env_, layout,
      engine::IdentityOverrides{config_.accept_new_store, config_.accept_store_mismatch,
                                config_.accept_wal_loss});
  const engine::StoreIdentity& identity = *store_identity_;
  if (env_->FileExists(LockPath(config_))) {
    auto lock = LockDataDirectory(env_, config_);
    if (!lock) return lock.error();
    lock_ = std::move(*lock);
  }
  auto plan = identity.Decide();
  // An unreadable directory is guard 6's to name, below.
  if (!plan && plan.error().code() != Status::Code::kIOError) return plan.error();
  const bool decided_under_lock = lock_ != nullptr && plan;
  // 6, 5: directories, lock.
  STEMEDB_RETURN_IF_ERROR(PrepareDirectories(env_, config_));
  if (lock_ == nullptr) {
    auto lock = LockDataDirectory(env_, config_);
    if (!lock) return lock.error();
    lock_ = std::move(*lock);
  }
  if (!decided_under_lock) {
    plan = identity.Decide();
    if (!plan) return plan.error();
  }
  identity_ = std::move(*plan);
  log::Info("store identity",
            {{"store_id", identity_.store_id}, {"action", engine::ActionName(identity_.action)}});
  for (const std::string& note : identity_.notes) {
    log::Warn("store identity: " + note, {{"store_id", identity_.store_id}});
  }
  for (const std::string& o : identity_.overrides) {
    log::Warn("store identity override", {{"store_id", identity_.store_id}, {"override", o}});
  }
  if (Status s = identity.PrepareForOpen(identity_); !s.ok()) {
    return Status::IOError("cannot prepare the store: " + s.ToString());
  }
  return Status::OK();
}

int App::Impl::Run() {
  // 1-3: configuration only.
  if (Status s = CheckConfig(config_); !s.ok()) return Fail(s.message());
  // 4a before anything is created: a fresh volume on a non-loopback bind
  // with no root key is refused with nothing written (not even directories).
  if (Status s = CheckRootKeyBeforeOpen(env_, config_); !s.ok()) return Fail(s.message());
  if (Status s = PrepareStore(); !s.ok()) return Fail(s.message());

#ifdef STEMEDB_FAILPOINTS
  if (const char* spec = std::getenv("STEMEDB_FAILPOINT"); spec != nullptr && *spec != '\0') {
    fault_env_ = std::make_unique<FaultInjectionEnv>(Env::Default());
    if (Status s = fault_env_->ConfigureFromSpec(spec); !s.ok()) {
      return Fail("STEMEDB_FAILPOINT: " + s.message());
    }
    wal_env_ = fault_env_.get();
    log::Warn("failpoints armed (test build)", {{"spec", spec}});
  }
#endif

  // Bind before replay: probes and clients get answers while it runs.
  metrics_ = std::make_unique<Metrics>();
  ServerOptions so;
  so.host = config_.bind_host;
  so.port = config_.bind_port;
  so.io_threads = config_.io_threads;
  so.max_connections = config_.max_connections;
  so.transport.max_body_bytes = config_.max_body_bytes;
  so.transport.header_timeout = config_.header_timeout;
  so.transport.body_timeout = config_.body_timeout;
  so.tls_cert_path = config_.tls_cert_path;
  so.tls_key_path = config_.tls_key_path;
  server_ = std::make_unique<Server>(so, metrics_.get());
  if (Status s = server_->Listen(); !s.ok()) return Fail(s.message());
  Metrics* metrics = metrics_.get();
  server_->set_observer([metrics](const CompletedRequest& r) {
    metrics->ObserveRequest(r.meta->route, r.method, r.status, r.duration);
    if (r.meta->assertions_written > 0) {
      metrics->AddAssertionsWritten(r.meta->project, r.meta->assertions_written);
    }
    LogRequest(r);
  });
  server_->set_handler(
      std::make_shared<BootHandler>([this] { return HealthJson(); }, metrics_.get()));
  server_->Start();
  app_->port_.store(server_->port());
  log::Info("listening", {{"addr", config_.bind_host + ":" + std::to_string(server_->port())},
                          {"tls", config_.tls_enabled() ? "on" : "off"},
                          {"config", config_.Describe()}});

  disk_ = std::make_unique<DiskMonitor>(
      env_, std::vector<DiskMonitor::Volume>{{"wal", config_.wal_dir}, {"db", config_.db_dir}},
      config_.min_free_bytes, metrics_.get());
  disk_->Start();

  // Replay (guard 7: a corrupt sealed segment is Corruption naming the file).
  engine::DatabaseOptions dbo;
  dbo.db_dir = config_.db_dir;
  dbo.wal.dir = config_.wal_dir;
  dbo.wal.sync_policy = config_.wal_sync;
  dbo.wal.sync_interval = config_.wal_sync_interval;
  dbo.wal.segment_bytes = config_.wal_segment_bytes;
  dbo.wal.env = wal_env_;
  dbo.wal.probe = metrics_->wal_probe();
  // A lone durable write is written, synced and applied on its I/O thread
  // (no handoff to the WAL writer and apply threads); under load, and on a
  // disk whose fdatasync is slow, the writer thread takes over by itself.
  // It notices load by records piling up behind an inline commit, which
  // needs a second I/O thread: a single one committing inline could never
  // read the requests its sockets hold meanwhile (measured: 8k/s instead of
  // 34k/s at 64 connections with STEMEDB_IO_THREADS=1), so then it is off.
  dbo.wal.inline_commit = config_.io_threads >= 2;
  engine::StoreIdentity::ApplyTo(identity_, &dbo);
  auto started = std::chrono::steady_clock::now();
  auto db = engine::Database::Open(dbo, &progress_);
  if (!db) {
    server_->Stop();
    return Fail("cannot open the store: " + db.error().ToString());
  }
  db_ = std::move(*db);
  if (Status s = store_identity_->WriteRootMarker(identity_); !s.ok()) {
    return Shutdown(Fail("cannot write the store marker in STEMEDB_DATA_DIR: " + s.ToString()));
  }
  if (restored_) {
    // The WAL is attached now: from here on an empty WAL dir is a lost WAL,
    // not a fresh restore (engine/FORMAT.md §6 "Restore").
    log::Info("opened a restored store", {{"backup", restored_->backup},
                                          {"sha256", restored_->sha256},
                                          {"snapshot_lsn", std::to_string(restored_->snapshot_lsn)},
                                          {"restored_at", restored_->restored_at}});
    Status s = env_->RemoveFile(RestoredMarkerPath());
    if (s.ok()) s = env_->SyncDir(config_.db_dir);
    if (!s.ok()) {
      return Shutdown(Fail("cannot remove " + RestoredMarkerPath() + ": " + s.ToString()));
    }
  }
  double replay = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_->SetReplaySeconds(replay);
  log::Info("store open", {{"store_id", identity_.store_id},
                           {"applied_lsn", std::to_string(db_->applied_lsn().value())},
                           {"replayed", std::to_string(progress_.records_replayed.load())},
                           {"seconds", std::to_string(replay)}});

  audit_ = std::make_unique<auth::AuditLog>(db_.get());
  keys_ = std::make_unique<auth::KeyStore>(db_.get(), audit_.get());
  agents_ = std::make_unique<auth::AgentRegistry>(db_.get(), audit_.get());
  meter_ = std::make_unique<auth::UsageMeter>(db_.get(), config_.meter_enabled);
  keys_->SetUsageMeter(meter_.get());  // key listings show last_used_at
  limiter_ = std::make_unique<auth::RateLimiter>(config_.rate_limit_spec);
  struct Loader {
    const char* what;
    std::function<Status()> load;
  };
  for (const Loader& l : {Loader{"audit log", [this] { return audit_->Load(); }},
                          Loader{"key store", [this] { return keys_->Load(); }},
                          Loader{"agent registry", [this] { return agents_->Load(); }},
                          Loader{"usage meter", [this] { return meter_->Load(); }}}) {
    if (Status s = l.load(); !s.ok()) {
      return Shutdown(Fail(std::string("cannot load the ") + l.what + ": " + s.ToString()));
    }
  }
  // Every identity override is on record with the store it let open.
  for (const std::string& o : identity_.overrides) {
    auth::AuditRecord record;
    record.time_us = UnixMicrosNow();
    record.actor_key_id = "stemedb";
    record.action = "store.override";
    record.target = identity_.store_id;
    record.detail = o;
    engine::SystemEntry entry;
    entry.writes.push_back(audit_->MakeAuditWrite(std::move(record)));
    auto done = db_->Submit(std::move(entry));
    if (!done) return Shutdown(Fail("cannot audit the store override: " + done.error().ToString()));
  }
  auto root = EnsureRootKey(env_, config_, keys_.get(), UnixMicrosNow());
  if (!root) return Shutdown(Fail(root.error().message()));
  if (root->generated) {
    log::Warn("generated a root API key (loopback only); read it from the file",
              {{"path", root->key_file}});
  } else if (root->reused_key_file) {
    log::Info("seeded the root API key from its file", {{"path", root->key_file}});
  } else if (root->seeded_from_config) {
    log::Info("seeded the root API key from STEMEDB_ROOT_API_KEY");
  }

  Services services;
  services.config = &config_;
  services.db = db_.get();
  services.keys = keys_.get();
  services.agents = agents_.get();
  services.audit = audit_.get();
  services.limiter = limiter_.get();
  services.meter = meter_.get();
  services.metrics = metrics_.get();
  services.disk = disk_.get();
  services.ready = [this] { return Ready(); };
  services.serving = [this] { return !shutting_down_.load(); };
  services.live = [this] { return db_->writable() || db_->failure().IsNoSpace(); };
  services.health_json = [this] { return HealthJson(); };
  services.data_dir = config_.data_dir;
  services.wal_dir = config_.wal_dir;
  services.db_dir = config_.db_dir;
  router_ = std::make_shared<Router>(std::move(services));
  server_->set_handler(router_);
  replay_done_.store(true);
  metrics_->SetReady(Ready());
  log::Info("ready", {{"port", std::to_string(server_->port())}});

  Housekeeping();  // returns once a stop was requested
  return Shutdown(0);
}

int App::Impl::Shutdown(int code) {
  int rc = code;
  shutting_down_.store(true);  // /v1/ready 503: the endpoint leaves the Service first
  if (code == 0) {
    log::Info("shutting down: draining",
              {{"timeout_ms", std::to_string(config_.drain_timeout.count())},
               {"in_flight", std::to_string(server_->requests_in_flight())}});
  }
  // Stops accepting, drains, then cancels and joins the streaming producers
  // (a backup reads the database) and the I/O threads: once it returns, no
  // thread of the Server is left to use what is closed below.
  if (!server_->Shutdown(config_.drain_timeout) && rc == 0) rc = 2;
  if (meter_) {
    Status s = meter_->Flush();
    if (!s.ok()) log::Warn("final usage flush failed", {{"error", s.ToString()}});
  }
  if (disk_) disk_->Stop();
  if (db_) {
    Status s = db_->Close();
    if (!s.ok()) {
      log::Error("database close failed", {{"error", s.ToString()}});
      if (rc == 0) rc = 2;
    }
  }
  lock_.reset();
  if (code == 0) log::Info("stopped", {{"exit_code", std::to_string(rc)}});
  return rc;
}

App::App(ServerConfig config) : impl_(std::make_unique<Impl>(this, std::move(config))) {}
App::~App() = default;

int App::Run() { return impl_->Run(); }

void App::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_requested_ = true;
  }
  cv_.notify_all();
}

}  // namespace stemedb::api
