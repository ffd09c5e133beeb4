// ServerProcess: the real `stemedb` binary as a child process, for the
// end-to-end suites. No mocks: real files in a fresh temp dir, real signals.
//
// Each instance owns a temp root (/tmp/stemedb-e2e-XXXXXX) holding the data
// directory (`data/`) and the captured stderr/stdout (`logs/`, outside the
// data dir so "the guard wrote nothing" can be checked by listing data/). It
// picks a free loopback port (the server cannot bind :0 and report it), and by
// default enables auth with a fresh root key it generated itself.
//
// The child inherits no STEMEDB_* variable from the test's environment: only
// those set through SetEnv(), so a developer's shell cannot change a result.
// The binary is STEMEDB_E2E_SERVER from the environment if set, else the path
// CMake compiled in (STEMEDB_SERVER_BINARY).
//
// Not thread-safe; drive it from the test's main thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stemectl/http_client.h"
#include "util/status.h"

namespace stemedb::e2e {

// Generates a key in the docs/api.md key format: "steme_live_" + 48 lowercase hex.
std::string NewKeyString();
// Returns a loopback TCP port that was free a moment ago.
uint16_t PickFreePort();
// Path of the server binary under test.
std::string ServerBinary();

class ServerProcess {
 public:
  ServerProcess();
  // Kills a running child and removes the temp root (kept when the env var
  // STEMEDB_E2E_KEEP is set, for post-mortems).
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Environment of the child. The defaults set STEMEDB_BIND_ADDR,
  // STEMEDB_DATA_DIR, STEMEDB_ROOT_API_KEY, STEMEDB_MIN_FREE_BYTES (small, so
  // a nearly full CI disk does not turn writes into 507) and a generous
  // STEMEDB_RATE_LIMIT (the suites are load, not abuse).
  void SetEnv(const std::string& name, const std::string& value);
  void UnsetEnv(const std::string& name);
  std::string GetEnv(const std::string& name) const;
  // Extra command-line arguments (--flag=value).
  void AddArg(const std::string& arg) { args_.push_back(arg); }

  // Spawns the server and waits until GET /v1/ready answers 200. Fails with
  // the tail of stderr if the process exits or is not ready in time.
  Status Start(std::chrono::seconds timeout = std::chrono::seconds(60));
  // Spawns without waiting.
  Status Spawn();
  Status WaitReady(std::chrono::seconds timeout = std::chrono::seconds(60));
  // SIGTERM, then wait (SIGKILL after `timeout`). Returns the exit code
  // (128+signal if killed by a signal), or -1 if none was running.
  int Stop(std::chrono::seconds timeout = std::chrono::seconds(30));
  // SIGKILL and reap: a crash that loses the process but not the page cache.
  void Kill();
  // Stop + Start on the same data dir and port.
  Status Restart();
  bool Running();

  struct ExitResult {
    int exit_code = -1;  // 128+signal if killed by a signal
    bool timed_out = false;
    std::string stderr_text;
  };
  // For start-up guards: runs the binary, expects it to exit by itself within
  // `timeout` (killed and timed_out=true otherwise), returns code + stderr.
  ExitResult RunExpectExit(std::chrono::seconds timeout = std::chrono::seconds(20));

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  std::string url() const;
  const std::string& root() const { return root_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& root_key() const { return root_key_; }
  // Everything the child wrote to stderr across all starts / since the last.
  std::string Stderr() const;
  std::string StderrSinceStart() const;

  // A fresh client on url() with short timeouts suitable for tests.
  std::unique_ptr<client::HttpClient> Client() const;

 private:
  pid_t SpawnChild(int stderr_fd);
  // Fails the running test if the exited server `pid` left a sanitizer report.
  void CheckSanitizerReports(pid_t pid);
  bool Reap(std::chrono::milliseconds timeout, int* exit_code);

  std::string root_, data_dir_, log_dir_, stderr_path_;
  std::map<std::string, std::string> env_;
  std::vector<std::string> args_;
  std::string root_key_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  size_t stderr_offset_ = 0;
};

}  // namespace stemedb::e2e
