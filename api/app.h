// App: the composition root of `stemedb`. Owns every long-lived object and
// opens them in an order that keeps the startup guards' promises (api/startup_guards.h):
//
//   1. guards 1-3 (config only; nothing touched)
//   2. guard 6: data/WAL/DB directories exist and are writable
//   3. guard 5: exclusive lock on $DATA_DIR/LOCK
//   4. guard 4 (fresh volume, non-loopback, no root key): refuse
//   5. bind the port and start serving with the boot handler:
//        /v1/health -> 200 {"status":"replaying","progress":{...}}
//        /metrics   -> metrics; everything else -> 503 + Retry-After
//   6. disk monitor; engine::Database::Open (replay; guard 7 = Corruption)
//   7. audit log, key store, agent registry, usage meter; guard 4 + root key
//   8. install the Router; the usage flusher runs every flush interval
//   9. wait for SIGTERM/SIGINT (see main.cc: signals are blocked in every
//      thread and taken by a sigwait thread), then drain: stop accepting,
//      finish requests in flight within the drain timeout, cancel and join
//      the streaming producers (api/stream_jobs.h) and the I/O threads,
//      flush usage, close the database, release the lock.
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
