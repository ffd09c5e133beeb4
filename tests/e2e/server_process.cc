#include "tests/e2e/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace stemedb::e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string NewKeyString() {
  if (sodium_init() < 0) std::abort();
  unsigned char raw[24];
  randombytes_buf(raw, sizeof raw);
  char hex[sizeof raw * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return std::string("steme_live_") + hex;
}

uint16_t PickFreePort() {
  // Bind :0, read the port, close. Another process could take it before the
  // server binds; the kernel hands out ephemeral ports round-robin, so a
  // collision between parallel tests is unlikely (and shows as a start error).
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string ServerBinary() {
  if (const char* p = std::getenv("STEMEDB_E2E_SERVER"); p && *p) return p;
#ifdef STEMEDB_SERVER_BINARY
  return STEMEDB_SERVER_BINARY;
#else
  return "stemedb";
#endif
}

ServerProcess::ServerProcess() {
  std::string tmpl = (fs::temp_directory_path() / "stemedb-e2e-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  root_ = tmpl;
  data_dir_ = root_ + "/data";
  log_dir_ = root_ + "/logs";
  fs::create_directories(log_dir_);
  stderr_path_ = log_dir_ + "/stderr.log";
  port_ = PickFreePort();
  root_key_ = NewKeyString();
  env_["STEMEDB_BIND_ADDR"] = "127.0.0.1:" + std::to_string(port_);
  env_["STEMEDB_DATA_DIR"] = data_dir_;
  env_["STEMEDB_ROOT_API_KEY"] = root_key_;
  env_["STEMEDB_MIN_FREE_BYTES"] = "1048576";
  env_["STEMEDB_RATE_LIMIT"] = "100000/s,100000";
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Kill();
  if (std::getenv("STEMEDB_E2E_KEEP") == nullptr) {
    std::error_code ec;
    // Tests may leave a read-only dir behind; make everything removable.
    for (auto it = fs::recursive_directory_iterator(root_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec))
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(root_, ec);
  }
}

void ServerProcess::SetEnv(const std::string& name, const std::string& value) {
  env_[name] = value;
  if (name == "STEMEDB_ROOT_API_KEY") root_key_ = value;
  if (name == "STEMEDB_DATA_DIR") data_dir_ = value;
}

void ServerProcess::UnsetEnv(const std::string& name) {
  env_.erase(name);
  if (name == "STEMEDB_ROOT_API_KEY") root_key_.clear();
}

std::string ServerProcess::GetEnv(const std::string& name) const {
  auto it = env_.find(name);
  return it == env_.end() ? "" : it->second;
}

std::string ServerProcess::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

pid_t ServerProcess::SpawnChild(int stderr_fd) {
  // Everything the child needs is built before fork(): after it, only
  // async-signal-safe calls (the test process may have threads).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "STEMEDB_", 8) != 0) env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : env_) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string binary = ServerBinary();
  std::vector<std::string> arg_strings{binary};
  for (const auto& a : args_) arg_strings.push_back(a);
  std::vector<char*> argv;
  for (auto& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Child. Dies with the test process, so a crashed test leaks no server.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  ::dup2(stderr_fd, 1);
  ::dup2(stderr_fd, 2);
  // The server should not inherit the test's sockets or files.
  ::close_range(3, ~0U, 0);
  ::execve(binary.c_str(), argv.data(), envp.data());
  ::_exit(127);
}

Status ServerProcess::Spawn() {
  if (pid_ > 0) return Status::InvalidArgument("server already running");
  int fd = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open " + stderr_path_, errno);
  struct stat st {};
  ::fstat(fd, &st);
  stderr_offset_ = static_cast<size_t>(st.st_size);
  pid_ = SpawnChild(fd);
  ::close(fd);
  if (pid_ < 0) return Status::FromErrno("fork", errno);
  return Status::OK();
}

namespace {

// log_path=... of a sanitizer's options variable, or "".
std::string SanitizerLogPath(const char* variable) {
  const char* options = std::getenv(variable);
  if (options == nullptr) return "";
  std::string text = options;
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find_first_of(": ", at);
    if (end == std::string::npos) end = text.size();
    if (text.compare(at, 9, "log_path=") == 0) return text.substr(at + 9, end - at - 9);
    at = end + 1;
  }
  return "";
}

}  // namespace

void ServerProcess::CheckSanitizerReports(pid_t pid) {
  // A report in the log_path file of a server that exited (scripts/sanitize.sh)
  // fails the test that ran it, whether or not the test looked at the exit.
  for (const char* variable : {"ASAN_OPTIONS", "TSAN_OPTIONS"}) {
    std::string path = SanitizerLogPath(variable);
    if (path.empty()) continue;
    path += "." + std::to_string(pid);
    if (fs::exists(path)) ADD_FAILURE() << "the server wrote a sanitizer report: " << path;
  }
  // UBSan reports stay on stderr (in GCC's ASan+UBSan runtime it ignores
  // log_path), as does any report without a log_path.
  const std::string err = StderrSinceStart();
  for (const char* marker :
       {"SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer",
        "SUMMARY: LeakSanitizer", "SUMMARY: ThreadSanitizer", ": runtime error: "}) {
    if (size_t at = err.find(marker); at != std::string::npos) {
      ADD_FAILURE() << "sanitizer report in the server's stderr:\n"
                    << err.substr(at > 4000 ? at - 4000 : 0, 8000);
      return;
    }
  }
}

bool ServerProcess::Reap(std::chrono::milliseconds timeout, int* exit_code) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      CheckSanitizerReports(r);
      return true;
    }
    if (r < 0) {
      *exit_code = -1;
      pid_ = -1;
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

bool ServerProcess::Running() {
  if (pid_ <= 0) return false;
  int code = 0;
  return !Reap(0ms, &code);
}

Status ServerProcess::WaitReady(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  client::HttpClientOptions opts;
  opts.connect_timeout = 1000ms;
  opts.request_timeout = 2000ms;
  client::HttpClient http(url(), opts);
  std::string last = "no answer";
  while (std::chrono::steady_clock::now() < deadline) {
    int code = 0;
    if (Reap(0ms, &code)) {
      std::string err = StderrSinceStart();
      if (err.size() > 4000) err = err.substr(err.size() - 4000);
      return Status::Unavailable("server exited with code " + std::to_string(code) +
                                 " before ready; stderr:\n" + err);
    }
    auto r = http.Request("GET", "/v1/ready");
    if (r && r->status == 200) return Status::OK();
    last = r ? "status " + std::to_string(r->status) : r.error().ToString();
    std::this_thread::sleep_for(20ms);
  }
  return Status::Unavailable("server not ready in time (" + last + "); stderr:\n" +
                             StderrSinceStart());
}

Status ServerProcess::Start(std::chrono::seconds timeout) {
  STEMEDB_RETURN_IF_ERROR(Spawn());
  Status st = WaitReady(timeout);
  if (!st.ok() && pid_ > 0) Kill();
  return st;
}

int ServerProcess::Stop(std::chrono::seconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int code = -1;
  if (Reap(timeout, &code)) return code;
  ::kill(pid_, SIGKILL);
  Reap(30s, &code);
  return code;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int code = 0;
  Reap(30s, &code);
}

Status ServerProcess::Restart() {
  Stop();
  return Start();
}

ServerProcess::ExitResult ServerProcess::RunExpectExit(std::chrono::seconds timeout) {
  ExitResult result;
  Status st = Spawn();
  if (!st.ok()) {
    result.stderr_text = st.ToString();
    return result;
  }
  if (!Reap(timeout, &result.exit_code)) {
    result.timed_out = true;
    Kill();
    result.exit_code = -1;
  }
  result.stderr_text = StderrSinceStart();
  return result;
}

std::string ServerProcess::Stderr() const {
  std::ifstream in(stderr_path_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ServerProcess::StderrSinceStart() const {
  std::string all = Stderr();
  return stderr_offset_ <= all.size() ? all.substr(stderr_offset_) : all;
}

std::unique_ptr<client::HttpClient> ServerProcess::Client() const {
  client::HttpClientOptions opts;
  opts.connect_timeout = 5000ms;
  opts.request_timeout = 30000ms;
  return std::make_unique<client::HttpClient>(url(), opts);
}

}  // namespace stemedb::e2e
