// ChildProcess: runs an external program (rclone) with pipes, for the
// backup driver. posix_spawnp, no shell: arguments are passed verbatim, so
// remote names can never be interpreted as shell syntax.
//
// stdin is /dev/null or a pipe the caller writes; stdout is /dev/null, a
// pipe the caller reads, or captured into memory by a background thread;
// stderr is always captured (its last kStderrKeepBytes) by a background
// thread, so a chatty child can never block on a full pipe and the caller
// can show the child's own words when it fails.
//
// SIGPIPE: the first Start() sets the parent's SIGPIPE disposition to
// SIG_IGN, so writing to a child that died returns EPIPE instead of killing
// stemectl; the child gets SIG_DFL back (posix_spawnattr_setsigdefault).
//
// Lifecycle: Start -> Write*/CloseStdin or Read* -> Wait (once). The
// destructor of a child not yet waited for kills (SIGKILL) and reaps it.
// Not thread-safe: one owner.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "util/status.h"

namespace stemedb::backup {

inline constexpr size_t kStderrKeepBytes = 16 << 10;

struct ChildOptions {
  enum class Input { kNull, kPipe };
  enum class Output { kNull, kPipe, kCapture };
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
  Input stdin_mode = Input::kNull;
  Output stdout_mode = Output::kNull;
  // Bound for Output::kCapture; more output fails Wait() with IOError.
  size_t max_capture_bytes = 64 << 20;
};

struct ChildExit {
  int code = 0;  // exit status, or 128 + signal number if killed
  bool signaled = false;
  std::string stdout_text;  // Output::kCapture only
  std::string stderr_text;  // the last kStderrKeepBytes
};

class ChildProcess {
 public:
  // IOError if the program cannot be started (not found, not executable).
  static Result<std::unique_ptr<ChildProcess>> Start(const ChildOptions& options);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Writes all of `data` to the child's stdin. IOError (EPIPE) if the child
  // closed it (usually: it failed; see Wait()'s stderr).
  Status Write(std::string_view data);
  void CloseStdin();
  // Reads up to n bytes of stdout; 0 at end of stream.
  Result<size_t> Read(char* buf, size_t n);
  void CloseStdout();
  // Sends `sig` to the child (no-op once waited for).
  void Signal(int sig);
  // Closes stdin and stdout, waits for the exit, joins the capture threads.
  Result<ChildExit> Wait();

 private:
  ChildProcess() = default;

  pid_t pid_ = -1;
  bool waited_ = false;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  size_t max_capture_ = 0;
  std::thread stderr_thread_;
  std::thread stdout_thread_;
  std::string stderr_text_;
  std::string stdout_text_;
  bool stdout_overflow_ = false;
};

// "rclone cat x" for messages: argv joined by spaces.
std::string JoinArgv(const std::vector<std::string>& argv);

}  // namespace stemedb::backup
