// App: the composition root of `stemedb`. Owns every long-lived object and
// opens them in an order that keeps the startup guards' promises
// (api/startup_guards.h). App::Impl::Start() runs these steps, each a
// function of its own in app.cc; every module's options come from the
// config through its *OptionsFrom builder (api/config.h):
//
//   CheckConfig             guards 1-3 (config only; nothing touched)
//   CheckRootKeyBeforeOpen  guard 4 on a fresh volume: refuse, nothing written
//   BootstrapStandby        STEMEDB_STANDBY on an empty data dir: restore the
//                           archive's latest state (docs/backup.md "Warm standby")
//   PrepareStore            no interrupted restore; store identity (guard 8);
//                           directories (guard 6); lock on $DATA_DIR/LOCK (5)
//   ArmFailpoints           test builds only: STEMEDB_FAILPOINT
//   StartServing            bind the port and serve with the boot handler:
//                             /v1/health -> 200 {"status":"replaying","progress":{...}}
//                             /metrics   -> metrics; everything else -> 503 + Retry-After
//   StartDiskMonitor        free space on the WAL and DB volumes
//   OpenStore               engine::Database::Open (replay; guard 7 =
//                           Corruption), store marker, end of a restore; a
//                           standby's store refuses writes; the writer epoch
//   StartArchiver           continuous WAL archiving, if STEMEDB_ARCHIVE_REMOTE
//                           (not on a standby); fenced off at once if a
//                           higher writer epoch owns the archive
//   OpenAuth                audit log, key store, agent registry, usage
//                           meter, rate limiter (api/services.h)
//   AuditOverrides          every STEMEDB_ACCEPT_* used is audited (not on a standby)
//   EnsureRoot              guard 4 after open; seed or generate the root key
//                           (not on a standby: its keys are the primary's)
//   InstallRouter           the Router replaces the boot handler: ready
//   StartFollower           a standby follows the archive until POST
//                           /v1/admin/promote (Promote, on a thread of its own)
//
// Then Housekeeping() until SIGTERM/SIGINT (see main.cc: signals are blocked
// in every thread and taken by a sigwait thread): readiness, WAL fail-stop
// log line, usage flush every flush interval. Shutdown() drains: stop
// accepting, finish requests in flight within the drain timeout, cancel and
// join the streaming producers (api/stream_jobs.h) and the I/O threads,
// flush usage, close the database, release the lock.
//
// Exit codes: 0 after a clean shutdown, 1 for any guard or startup failure
// (one line "stemedb: <reason>" on stderr), 2 if the drain timed out or the
// database did not close cleanly (the WAL still makes every acknowledged
// write durable; the next start replays).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "api/config.h"
#include "engine/database.h"

namespace stemedb::api {

class App {
 public:
  explicit App(ServerConfig config);
  ~App();

  // Runs until RequestStop(); returns the process exit code.
  int Run();

  // Thread-safe and async-signal-unsafe (call from a normal thread, e.g. the
  // sigwait thread). Idempotent.
  void RequestStop();

  // After Run() bound its port (tests with port 0); 0 before.
  uint16_t port() const { return port_.load(); }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<uint16_t> port_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_requested_ = false;  // guarded by mu_

  friend class Impl;
};

}  // namespace stemedb::api
