#include "api/app.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <thread>

#include "api/disk_monitor.h"
#include "api/error_reply.h"
#include "api/metrics.h"
#include "api/request_log.h"
#include "api/retention_sweeper.h"
#include "api/router.h"
#include "api/server.h"
#include "api/services.h"
#include "api/startup_guards.h"
#include "auth/agent_registry.h"
#include "auth/audit_log.h"
#include "auth/key_store.h"
#include "auth/rate_limiter.h"
#include "auth/usage_meter.h"
#include "backup/archive_restore.h"
#include "backup/restore.h"
#include "backup/wal_archive.h"
#include "backup/wal_archiver.h"
#include "backup/wal_follower.h"
#include "engine/store_identity.h"
#include "util/logging.h"
#include "util/thread_name.h"
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
      res = ErrorResponse(Unavailable("the server is starting (WAL replay in progress)"),
                          req.version(), req.keep_alive());
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
  // Every path out of Run() after the store opened goes through Shutdown();
  // this only makes sure no server thread outlives the members below it.
  ~Impl() {
    if (server_) server_->Stop();
  }

  int Run();

 private:
  // The startup steps, in order (see app.h). Each returns the one line a
  // refused start prints.
  Status Start();
  Status PrepareStore();
  Status ArmFailpoints();
  Status StartServing();
  void StartDiskMonitor();
  Status OpenStore();
  Status FinishRestore();
  Status BootstrapStandby();
  Status StartArchiver();
  Status StartFollower();
  void Fence(const Status& reason);
  // POST /v1/admin/promote (Services::promote) and its work.
  void Promote(std::function<void(Result<std::string>)> done);
  Result<std::string> DoPromote();
  Status OpenAuth();
  Status AuditOverrides();
  Status EnsureRoot();
  void InstallRouter();

  // A standby is ready (it serves reads); a fenced-off primary is not.
  bool Ready() const {
    return replay_done_.load() && db_ != nullptr && db_->writable() && !shutting_down_.load() &&
           !fenced_.load();
  }
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
  // Continuous WAL archiving (STEMEDB_ARCHIVE_REMOTE); stopped before db_ closes.
  std::unique_ptr<backup::WalArchiver> archiver_;
  // Warm standby (STEMEDB_STANDBY, docs/backup.md "Warm standby"): the
  // follower while this server is one; stopped before db_ closes.
  std::unique_ptr<backup::WalFollower> follower_;
  // Expiry past each project's retain_days; stopped before db_ closes.
  std::unique_ptr<RetentionSweeper> sweeper_;
  std::atomic<bool> standby_{false};
  std::atomic<bool> fenced_{false};  // a higher writer epoch owns the archive
  std::atomic<uint64_t> epoch_{1};   // the writer epoch this store archives as
  mutable std::mutex promote_mu_;    // guards the two below, archiver_ and follower_
  bool promoting_ = false;
  std::thread promote_thread_;     // the last promotion's; joined in Shutdown
  engine::IdentityPlan identity_;  // set before the store is opened
  std::unique_ptr<engine::StoreIdentity> store_identity_;
  // The RESTORED marker of a DB dir fresh from `stemectl restore`, if any.
  std::optional<backup::RestoredMarker> restored_;
  AuthServices auth_;
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
                : fenced_.load()      ? "fenced"
                : !disk_ok            ? "degraded"
                                      : "ok";
  o["version"] = STEMEDB_VERSION;
  o["store_id"] = identity_.store_id;
  o["applied_lsn"] = db_->applied_lsn().value();
  // docs/backup.md "Warm standby": who writes, and how far a standby is.
  o["role"] = standby_.load() ? "standby" : fenced_.load() ? "fenced" : "primary";
  o["writer_epoch"] = epoch_.load();
  if (const Status refusal = db_->write_refusal(); !refusal.ok()) {
    o["writes_refused"] = refusal.message();
  }
  std::unique_lock<std::mutex> lock(promote_mu_);  // a promotion resets follower_
  if (follower_) {
    const backup::WalFollowerStats f = follower_->stats();
    lock.unlock();
    json::object st;
    st["applied_lsn"] = f.applied_lsn;
    st["archive_lsn"] = f.archive_lsn;
    st["lag_lsn"] = f.lag_lsn;
    st["lag_seconds"] = f.lag_seconds;
    st["segments"] = f.segments;
    st["failures"] = f.failures;
    if (!f.last_error.empty()) st["error"] = f.last_error;
    o["standby"] = std::move(st);
  }
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
    {
      std::lock_guard<std::mutex> lock(promote_mu_);  // archiver_, follower_ change on promotion
      if (archiver_) {
        const backup::WalArchiverStats a = archiver_->stats();
        metrics_->SetWalArchive(a.archived_lsn, a.lag_seconds, a.lag_bytes, a.failures);
      }
      if (follower_) {
        const backup::WalFollowerStats f = follower_->stats();
        metrics_->SetStandby(true, f.lag_lsn, f.lag_seconds);
      } else {
        metrics_->SetStandby(false, 0, 0);
      }
    }
    metrics_->SetWriterEpoch(epoch_.load(), fenced_.load());
    if (!db_->writable() && !reported_failure) {
      reported_failure = true;
      log::Error("WAL fail-stopped: writes refused until restart",
                 {{"error", db_->failure().ToString()}});
    }
    if (std::chrono::steady_clock::now() >= next_flush) {
      next_flush += config_.usage_flush_interval;
      // A standby's (or a fenced-off primary's) counters are not persisted:
      // its store takes no writes but the primary's.
      if (!db_->write_refusal().ok()) continue;
      Status s = auth_.meter->Flush();
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
  engine::StoreLayout layout = StoreLayoutFrom(config_);
  if (restored_) layout.restored_snapshot_lsn = Lsn(restored_->snapshot_lsn);
  store_identity_ =
      std::make_unique<engine::StoreIdentity>(env_, layout, IdentityOverridesFrom(config_));
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
  if (Status s = Start(); !s.ok()) {
    const int rc = Fail(s.message());
    // Once the store is open, a failed start closes it as a stop does.
    return db_ != nullptr ? Shutdown(rc) : rc;
  }
  Housekeeping();  // returns once a stop was requested
  return Shutdown(0);
}

Status App::Impl::Start() {
  // 1-3: configuration only.
  STEMEDB_RETURN_IF_ERROR(CheckConfig(config_));
  // 4a before anything is created: a fresh volume on a non-loopback bind
  // with no root key is refused with nothing written (not even directories).
  STEMEDB_RETURN_IF_ERROR(CheckRootKeyBeforeOpen(env_, config_));
  STEMEDB_RETURN_IF_ERROR(BootstrapStandby());
  STEMEDB_RETURN_IF_ERROR(PrepareStore());
  STEMEDB_RETURN_IF_ERROR(ArmFailpoints());
  STEMEDB_RETURN_IF_ERROR(StartServing());
  StartDiskMonitor();
  STEMEDB_RETURN_IF_ERROR(OpenStore());
  STEMEDB_RETURN_IF_ERROR(StartArchiver());
  STEMEDB_RETURN_IF_ERROR(OpenAuth());
  STEMEDB_RETURN_IF_ERROR(AuditOverrides());
  STEMEDB_RETURN_IF_ERROR(EnsureRoot());
  InstallRouter();
  return StartFollower();
}

// Test builds only: STEMEDB_FAILPOINT wraps the WAL's Env in a
// FaultInjectionEnv (docs/configuration.md).
Status App::Impl::ArmFailpoints() {
#ifdef STEMEDB_FAILPOINTS
  const char* spec = std::getenv("STEMEDB_FAILPOINT");
  if (spec == nullptr || *spec == '\0') return Status::OK();
  fault_env_ = std::make_unique<FaultInjectionEnv>(Env::Default());
  if (Status s = fault_env_->ConfigureFromSpec(spec); !s.ok()) {
    return Status::InvalidArgument("STEMEDB_FAILPOINT: " + s.message());
  }
  wal_env_ = fault_env_.get();
  log::Warn("failpoints armed (test build)", {{"spec", spec}});
#endif
  return Status::OK();
}

// Binds before replay, so probes and clients get answers while it runs: the
// boot handler serves health and metrics and answers 503 to the rest.
Status App::Impl::StartServing() {
  metrics_ = std::make_unique<Metrics>();
  server_ = std::make_unique<Server>(ServerOptionsFrom(config_), metrics_.get());
  STEMEDB_RETURN_IF_ERROR(server_->Listen());
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
  return Status::OK();
}

void App::Impl::StartDiskMonitor() {
  disk_ = std::make_unique<DiskMonitor>(env_, DiskVolumesFrom(config_), config_.min_free_bytes,
                                        metrics_.get());
  disk_->Start();
}

// Replay (guard 7: a corrupt sealed segment is Corruption naming the file),
// then the store's marker in the data root.
Status App::Impl::OpenStore() {
  engine::DatabaseOptions options = DatabaseOptionsFrom(config_);
  options.wal.env = wal_env_;
  options.wal.probe = metrics_->wal_probe();
  engine::StoreIdentity::ApplyTo(identity_, &options);
  auto started = std::chrono::steady_clock::now();
  auto db = engine::Database::Open(options, &progress_);
  if (!db) return Status::Failed("cannot open the store: " + db.error().ToString());
  db_ = std::move(*db);
  if (config_.standby) {
    // Before anything could write: a standby's log is the primary's.
    standby_.store(true);
    db_->SetWriteRefusal(Status::Unavailable(
        "this server is a warm standby following " + config_.archive_remote +
        ": writes go to the primary (promote it with `stemectl promote` if the primary is gone)"));
  }
  auto epoch = backup::StoreWriterEpoch(db_.get());
  if (!epoch)
    return Status::Failed("cannot read the store's writer epoch: " + epoch.error().ToString());
  epoch_.store(*epoch);
  if (Status s = store_identity_->WriteRootMarker(identity_); !s.ok()) {
    return Status::Failed("cannot write the store marker in STEMEDB_DATA_DIR: " + s.ToString());
  }
  STEMEDB_RETURN_IF_ERROR(FinishRestore());
  double replay = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_->SetReplaySeconds(replay);
  log::Info("store open", {{"store_id", identity_.store_id},
                           {"applied_lsn", std::to_string(db_->applied_lsn().value())},
                           {"replayed", std::to_string(progress_.records_replayed.load())},
                           {"seconds", std::to_string(replay)}});
  return Status::OK();
}

// The WAL is attached now: from here on an empty WAL dir is a lost WAL, not
// a fresh restore (engine/FORMAT.md §6 "Restore"), so the RESTORED marker goes.
Status App::Impl::FinishRestore() {
  if (!restored_) return Status::OK();
  log::Info("opened a restored store", {{"backup", restored_->backup},
                                        {"sha256", restored_->sha256},
                                        {"snapshot_lsn", std::to_string(restored_->snapshot_lsn)},
                                        {"restored_at", restored_->restored_at}});
  Status s = env_->RemoveFile(RestoredMarkerPath());
  if (s.ok()) s = env_->SyncDir(config_.db_dir);
  if (!s.ok()) return Status::Failed("cannot remove " + RestoredMarkerPath() + ": " + s.ToString());
  return Status::OK();
}

// Continuous WAL archiving, when STEMEDB_ARCHIVE_REMOTE is set
// (backup/wal_archiver.h); Shutdown() stops it before the store closes.
// A standby does not archive (its log is the archive's); it starts
// archiving when promoted. Before the first write is accepted the archive's
// writer epochs are checked once (the archiver keeps checking): a primary
// that returns after a standby was promoted starts fenced off.
Status App::Impl::StartArchiver() {
  if (config_.archive_remote.empty() || standby_.load()) return Status::OK();
  backup::WalArchiverOptions archive = WalArchiverOptionsFrom(config_);
  archive.env = wal_env_;
  archive.epoch = epoch_.load();
  archive.on_fenced = [this](const Status& reason) { Fence(reason); };
  backup::Rclone rclone(archive.rclone);
  auto highest = backup::HighestWriterEpoch(rclone, config_.archive_remote);
  if (!highest) {
    log::Warn("cannot check the archive's writer epoch at start; the archiver keeps checking",
              {{"error", highest.error().ToString()}});
  } else if (*highest > archive.epoch) {
    Fence(Status::Failed(
        "fenced off: writer epoch " + std::to_string(*highest) + " owns the archive " +
        config_.archive_remote + " (a standby was promoted); this server's epoch is " +
        std::to_string(archive.epoch) + ": it refuses writes and never uploads there again"));
    log::Error("this server was fenced off: writes refused",
               {{"writer_epoch", std::to_string(archive.epoch)},
                {"archive_epoch", std::to_string(*highest)}});
  }
  auto archiver = std::make_unique<backup::WalArchiver>(db_->wal(), std::move(archive));
  STEMEDB_RETURN_IF_ERROR(archiver->Start());
  std::lock_guard<std::mutex> lock(promote_mu_);  // Housekeeping reads archiver_
  archiver_ = std::move(archiver);
  return Status::OK();
}

void App::Impl::Fence(const Status& reason) {
  fenced_.store(true);
  db_->SetWriteRefusal(reason);
}

// A standby's first start has an empty data dir: it is restored from the
// archive's newest base backup and every archived segment after it
// (backup/archive_restore.h, --latest), then opened as a restored store. A
// later start finds its store and just follows on.
Status App::Impl::BootstrapStandby() {
  if (!config_.standby) return Status::OK();
  const backup::RestoreTarget target{config_.wal_dir, config_.db_dir};
  auto state = backup::InspectRestoreTarget(env_, target);
  if (!state) {
    if (state.error().code() == Status::Code::kConflict) return Status::OK();  // a store is there
    return Status::Failed("standby: " + state.error().ToString());
  }
  if (state->state == backup::RestoreTargetState::kRestored) return Status::OK();
  log::Info("standby: restoring the latest state from the archive",
            {{"remote", config_.archive_remote}});
  backup::Rclone rclone(WalFollowerOptionsFrom(config_).rclone);
  backup::ArchiveRestoreOptions options;
  options.remote_dir = config_.archive_remote;
  options.target = target;
  options.env = env_;
  const auto started = std::chrono::steady_clock::now();
  auto restored = backup::RestoreFromArchive(rclone, options);
  if (!restored) {
    return Status::Failed("standby: cannot restore from " + config_.archive_remote + ": " +
                          restored.error().ToString());
  }
  log::Info(
      "standby: restored",
      {{"base", restored->base},
       {"lsn", std::to_string(restored->restored_lsn)},
       {"segments", std::to_string(restored->segments)},
       {"seconds",
        std::to_string(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count())}});
  return Status::OK();
}

Status App::Impl::StartFollower() {
  if (!standby_.load()) return Status::OK();
  backup::WalFollowerOptions options = WalFollowerOptionsFrom(config_);
  options.env = wal_env_;
  // Keys and agents created on the primary authenticate here once applied.
  options.on_applied = [this](uint64_t) {
    for (const Status& s : {auth_.keys->Load(), auth_.agents->Load()}) {
      if (!s.ok()) log::Warn("standby: reloading keys failed", {{"error", s.ToString()}});
    }
  };
  std::lock_guard<std::mutex> lock(promote_mu_);
  follower_ = std::make_unique<backup::WalFollower>(db_.get(), std::move(options));
  return follower_->Start();
}

void App::Impl::Promote(std::function<void(Result<std::string>)> done) {
  std::unique_lock<std::mutex> lock(promote_mu_);
  if (!standby_.load()) {
    lock.unlock();
    if (config_.standby && !fenced_.load()) {  // promoted already: safe to repeat
      json::object o;
      o["role"] = "primary";
      o["writer_epoch"] = epoch_.load();
      o["already_promoted"] = true;
      return done(json::serialize(o));
    }
    return done(Status::Conflict("this server is not a standby: nothing to promote"));
  }
  if (promoting_ || shutting_down_.load()) {
    lock.unlock();
    return done(Status::Busy("a promotion is already running"));
  }
  promoting_ = true;
  if (promote_thread_.joinable()) promote_thread_.join();  // a failed one, finished
  promote_thread_ = std::thread([this, done = std::move(done)] {
    SetThreadName("stemedb-promote");
    Result<std::string> result = DoPromote();
    {
      std::lock_guard<std::mutex> l(promote_mu_);
      promoting_ = false;
    }
    done(std::move(result));
  });
}

// docs/backup.md "Warm standby", promotion: stop following, apply
// everything archived that verifies, claim the next writer epoch in the
// archive (the fence), take writes, archive as that epoch. A failure
// before the epoch is written leaves the standby following again.
Result<std::string> App::Impl::DoPromote() {
  backup::WalFollower* follower;
  {
    std::lock_guard<std::mutex> lock(promote_mu_);
    follower = follower_.get();
  }
  follower->Stop();
  log::Info("promotion: applying everything archived");
  auto resume = [&](const Status& s) -> Status {
    log::Error("promotion failed; still a standby", {{"error", s.ToString()}});
    Status r = follower->Start();
    if (!r.ok()) log::Error("standby: cannot follow again", {{"error", r.ToString()}});
    return Status::Unavailable("promotion failed, still a standby: " + s.ToString());
  };
  if (Status s = follower->CatchUp(); !s.ok()) return resume(s);
  const uint64_t applied = db_->wal()->last_lsn().value();
  backup::Rclone rclone(WalFollowerOptionsFrom(config_).rclone);
  auto highest = backup::HighestWriterEpoch(rclone, config_.archive_remote);
  if (!highest) return resume(highest.error());
  const backup::WriterEpoch epoch{std::max(*highest, epoch_.load()) + 1, applied + 1};
  if (Status s = backup::WriteWriterEpoch(rclone, config_.archive_remote, epoch); !s.ok()) {
    return resume(s);
  }
  // The archive is this server's from here on.
  log::Info("promotion: writer epoch claimed", {{"epoch", std::to_string(epoch.epoch)},
                                                {"first_lsn", std::to_string(epoch.first_lsn)}});
  {
    std::lock_guard<std::mutex> lock(promote_mu_);
    follower_.reset();
    standby_.store(false);
  }
  // The new epoch's records start a segment of their own: the one holding
  // the replicated records is the old epoch's, already archived.
  if (Status s = db_->wal()->Rotate(); !s.ok()) return s;
  db_->SetWriteRefusal(Status::OK());
  for (const Status& s : {auth_.keys->Load(), auth_.agents->Load()}) {
    if (!s.ok()) return s;
  }
  engine::SystemEntry entry;
  entry.writes.push_back(backup::WriterEpochWrite(epoch.epoch));
  auth::AuditRecord record;
  record.time_us = UnixMicrosNow();
  record.actor_key_id = "stemedb";
  record.action = "standby.promote";
  record.target = identity_.store_id;
  record.detail = "writer epoch " + std::to_string(epoch.epoch) + " from lsn " +
                  std::to_string(epoch.first_lsn);
  entry.writes.push_back(auth_.audit->MakeAuditWrite(std::move(record)));
  auto committed = db_->Submit(std::move(entry));
  if (!committed) return committed.error().WithContext("recording the writer epoch");
  epoch_.store(epoch.epoch);
  STEMEDB_RETURN_IF_ERROR(StartArchiver());
  log::Info("promoted: this server is the primary",
            {{"epoch", std::to_string(epoch.epoch)},
             {"first_lsn", std::to_string(committed->lsn.value())}});
  json::object o;
  o["role"] = "primary";
  o["writer_epoch"] = epoch.epoch;
  o["first_lsn"] = committed->lsn.value();
  o["applied_lsn"] = applied;
  return json::serialize(o);
}

Status App::Impl::OpenAuth() {
  auto opened = OpenAuthServices(db_.get(), config_);
  if (!opened) return opened.error();
  auth_ = std::move(*opened);
  return Status::OK();
}

// Every identity override is on record with the store it let open.
Status App::Impl::AuditOverrides() {
  // A standby writes nothing of its own: its log is the primary's.
  if (standby_.load() && !identity_.overrides.empty()) {
    log::Warn("standby: store identity overrides are not audited (the store takes no writes)");
    return Status::OK();
  }
  for (const std::string& o : identity_.overrides) {
    auth::AuditRecord record;
    record.time_us = UnixMicrosNow();
    record.actor_key_id = "stemedb";
    record.action = "store.override";
    record.target = identity_.store_id;
    record.detail = o;
    engine::SystemEntry entry;
    entry.writes.push_back(auth_.audit->MakeAuditWrite(std::move(record)));
    auto done = db_->Submit(std::move(entry));
    if (!done) return Status::Failed("cannot audit the store override: " + done.error().ToString());
  }
  return Status::OK();
}

// Guard 4 after open, and the root key (api/startup_guards.h).
Status App::Impl::EnsureRoot() {
  if (standby_.load()) return Status::OK();  // its keys are the primary's, replicated
  auto root = EnsureRootKey(env_, config_, auth_.keys.get(), UnixMicrosNow());
  if (!root) return root.error();
  if (root->generated) {
    log::Warn("generated a root API key (loopback only); read it from the file",
              {{"path", root->key_file}});
  } else if (root->reused_key_file) {
    log::Info("seeded the root API key from its file", {{"path", root->key_file}});
  } else if (root->seeded_from_config) {
    log::Info("seeded the root API key from STEMEDB_ROOT_API_KEY");
  }
  return Status::OK();
}

// Replaces the boot handler: from here on every route is served.
void App::Impl::InstallRouter() {
  Services services = MakeServices(&config_, db_.get(), auth_, metrics_.get(), disk_.get());
  services.ready = [this] { return Ready(); };
  services.serving = [this] { return !shutting_down_.load(); };
  services.live = [this] { return db_->writable() || db_->failure().IsNoSpace(); };
  services.health_json = [this] { return HealthJson(); };
  if (standby_.load()) {
    services.promote = [this](std::function<void(Result<std::string>)> done) {
      Promote(std::move(done));
    };
  }
  router_ = std::make_shared<Router>(std::move(services));
  server_->set_handler(router_);
  if (config_.retention_interval.count() > 0) {
    sweeper_ = std::make_unique<RetentionSweeper>(db_.get(), RetentionOptionsFrom(config_));
    sweeper_->Start();
  }
  replay_done_.store(true);
  metrics_->SetReady(Ready());
  log::Info("ready", {{"port", std::to_string(server_->port())}});
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
  {
    // A promotion in progress finishes first (bounded by rclone's
    // timeouts): it replies through the server.
    std::unique_lock<std::mutex> lock(promote_mu_);
    std::thread promotion = std::move(promote_thread_);
    lock.unlock();
    if (promotion.joinable()) promotion.join();
  }
  if (!server_->Shutdown(config_.drain_timeout) && rc == 0) rc = 2;
  if (auth_.meter) {
    Status s = auth_.meter->Flush();
    if (!s.ok()) log::Warn("final usage flush failed", {{"error", s.ToString()}});
  }
  if (disk_) disk_->Stop();
  if (sweeper_) sweeper_->Stop();
  if (follower_) follower_->Stop();
  // Its last pass seals and ships what is left while the WAL is still open.
  if (archiver_) archiver_->Stop();
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
