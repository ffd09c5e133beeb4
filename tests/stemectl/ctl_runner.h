// Runs the real `stemectl` binary (STEMECTL_BINARY) against a ServerProcess
// for the stemectl end-to-end suites: STEMEDB_URL and STEMEDB_ADMIN_KEY
// point at the server, stdout and stderr are captured to files.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/server_process.h"

extern char** environ;

namespace stemedb::e2e {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CtlRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Starts `stemectl args...` with STEMEDB_URL / STEMEDB_ADMIN_KEY set;
// `extra_env` entries come first, so they override those two.
class Ctl {
 public:
  Ctl(const ServerProcess& server, std::vector<std::string> args,
      std::vector<std::string> extra_env = {}) {
    dir_ = server.root() + "/ctl-" + std::to_string(counter_++);
    std::filesystem::create_directories(dir_);
    std::vector<std::string> env = extra_env;
    env.push_back("STEMEDB_URL=" + server.url());
    env.push_back("STEMEDB_ADMIN_KEY=" + server.root_key());
    for (char** e = environ; *e; ++e) {
      if (std::string_view(*e).substr(0, 8) != "STEMEDB_") env.emplace_back(*e);
    }
    args.insert(args.begin(), STEMECTL_BINARY);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, (dir_ + "/out").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, (dir_ + "/err").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data()), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  CtlRun Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    CtlRun run;
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    run.out = ReadFile(dir_ + "/out");
    run.err = ReadFile(dir_ + "/err");
    return run;
  }

 private:
  static inline int counter_ = 0;
  std::string dir_;
  pid_t pid_ = -1;
};

inline CtlRun RunCtl(const ServerProcess& server, std::vector<std::string> args,
                     std::vector<std::string> extra_env = {}) {
  return Ctl(server, std::move(args), std::move(extra_env)).Wait();
}

}  // namespace stemedb::e2e
