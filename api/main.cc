// stemedb: the StemeDB server. Parses the configuration (flags over
// STEMEDB_* environment), then runs the App until SIGTERM/SIGINT.
//
// Signals: SIGTERM and SIGINT are blocked before any thread exists (so every
// thread inherits the mask) and taken synchronously by one sigwait thread,
// which asks the App to drain. A second signal during the drain exits at
// once: every acknowledged write is already durable in the WAL.
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "api/app.h"
#include "api/config.h"
#include "util/logging.h"

int main(int argc, char** argv) {
  using namespace stemedb;
  auto parsed = api::ParseConfig(argc, argv, api::CurrentEnvironment());
  if (!parsed) {
    std::fprintf(stderr, "stemedb: %s\n", parsed.error().message().c_str());
    return 1;
  }
  if (parsed->exit_now) {
    std::fputs(parsed->output.c_str(), stdout);
    return 0;
  }
  const api::ServerConfig& config = parsed->config;
  log::Configure(config.log_format, config.log_level);
  for (const auto& w : parsed->warnings) log::Warn(w);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  api::App app(config);
  std::thread([&app, signals] {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) return;
    log::Info("signal received: shutting down", {{"signal", strsignal(sig)}});
    app.RequestStop();
    if (sigwait(&signals, &sig) != 0) return;
    log::Warn("second signal: exiting without drain", {{"signal", strsignal(sig)}});
    _exit(1);
  }).detach();
  return app.Run();
}
