#include "backup/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

extern char** environ;

namespace stemedb::backup {

namespace {

void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, nullptr);
  });
}

void CloseFd(int* fd) {
  if (*fd >= 0) {
    ::close(*fd);
    *fd = -1;
  }
}

// Reads `fd` to EOF into `out`. Keeps the tail (stderr: the error is at
// the end) or stops growing at `limit` (stdout capture) and flags overflow.
void Drain(int fd, std::string* out, size_t limit, bool keep_tail, bool* overflow) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > limit) {
      if (keep_tail) {
        out->erase(0, out->size() - limit);
      } else {
        out->resize(limit);
        if (overflow) *overflow = true;
      }
    }
  }
  ::close(fd);
}

}  // namespace

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(const ChildOptions& options) {
  if (options.argv.empty()) return Status::InvalidArgument("child process: empty argv");
  IgnoreSigpipeOnce();
  // Pipes are O_CLOEXEC: the child keeps only what dup2 puts on 0/1/2, and a
  // second child never inherits the first one's pipe ends (which would hide
  // EOF from us).
  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int* fd :
         {&in_pipe[0], &in_pipe[1], &out_pipe[0], &out_pipe[1], &err_pipe[0], &err_pipe[1]}) {
      CloseFd(fd);
    }
  };
  if ((options.stdin_mode == ChildOptions::Input::kPipe && ::pipe2(in_pipe, O_CLOEXEC) != 0) ||
      (options.stdout_mode != ChildOptions::Output::kNull && ::pipe2(out_pipe, O_CLOEXEC) != 0) ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    close_all();
    return Status::FromErrno("pipe2", err);
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in_pipe[0] >= 0) {
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  if (out_pipe[1] >= 0) {
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults, empty;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> argv;
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    close_all();
    return Status::IOError("cannot run " + options.argv[0] + ": " + std::strerror(rc));
  }

  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = pid;
  child->max_capture_ = options.max_capture_bytes;
  CloseFd(&in_pipe[0]);
  CloseFd(&out_pipe[1]);
  CloseFd(&err_pipe[1]);
  child->stdin_fd_ = in_pipe[1];
  int err_fd = err_pipe[0];
  child->stderr_thread_ = std::thread([c = child.get(), err_fd] {
    Drain(err_fd, &c->stderr_text_, kStderrKeepBytes, true, nullptr);
  });
  if (options.stdout_mode == ChildOptions::Output::kCapture) {
    int out_fd = out_pipe[0];
    child->stdout_thread_ = std::thread([c = child.get(), out_fd] {
      Drain(out_fd, &c->stdout_text_, c->max_capture_, false, &c->stdout_overflow_);
    });
  } else {
    child->stdout_fd_ = out_pipe[0];
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (!waited_) {
    Signal(SIGKILL);
    auto ignored = Wait();  // reaping is all that matters here
    (void)ignored;
  }
}

Status ChildProcess::Write(std::string_view data) {
  if (stdin_fd_ < 0) return Status::IOError("child stdin is closed");
  while (!data.empty()) {
    ssize_t n = ::write(stdin_fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write to child stdin", errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

void ChildProcess::CloseStdin() { CloseFd(&stdin_fd_); }

Result<size_t> ChildProcess::Read(char* buf, size_t n) {
  if (stdout_fd_ < 0) return Status::IOError("child stdout is not a pipe");
  for (;;) {
    ssize_t got = ::read(stdout_fd_, buf, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) return Status::FromErrno("read child stdout", errno);
  }
}

void ChildProcess::CloseStdout() { CloseFd(&stdout_fd_); }

void ChildProcess::Signal(int sig) {
  if (!waited_ && pid_ > 0) ::kill(pid_, sig);
}

Result<ChildExit> ChildProcess::Wait() {
  if (waited_) return Status::InvalidArgument("child already waited for");
  CloseStdin();
  CloseStdout();
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  int err = errno;
  waited_ = true;
  // The pipes reach EOF once the child and any grandchildren holding them
  // exit; rclone does not fork, so these joins do not hang.
  if (stderr_thread_.joinable()) stderr_thread_.join();
  if (stdout_thread_.joinable()) stdout_thread_.join();
  if (r < 0) return Status::FromErrno("waitpid", err);
  ChildExit exit;
  if (WIFSIGNALED(status)) {
    exit.signaled = true;
    exit.code = 128 + WTERMSIG(status);
  } else {
    exit.code = WEXITSTATUS(status);
  }
  exit.stderr_text = std::move(stderr_text_);
  exit.stdout_text = std::move(stdout_text_);
  if (stdout_overflow_) {
    return Status::IOError("child output exceeds " + std::to_string(max_capture_) + " bytes");
  }
  return exit;
}

}  // namespace stemedb::backup
