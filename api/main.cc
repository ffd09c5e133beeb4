// stemedb: the StemeDB server. Parses the configuration (flags over
// STEMEDB_* environment), then runs the App until SIGTERM/SIGINT.
//
// Signals: SIGTERM and SIGINT are blocked before any thread exists (so every
// thread inherits the mask) and taken synchronously by one sigwait thread,
// which asks the App to drain. A second signal during the drain exits at
// once: every acknowledged write is already durable in the WAL. Once Run()
// returned, main wakes that thread with a signal of its own and joins it
// before the App is destroyed.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
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
  std::atomic<bool> app_done{false};
  std::thread signal_thread([&app, &app_done, signals] {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0 || app_done.load()) return;
    log::Info("signal received: shutting down", {{"signal", strsignal(sig)}});
    app.RequestStop();
    if (sigwait(&signals, &sig) != 0 || app_done.load()) return;
    log::Warn("second signal: exiting without drain", {{"signal", strsignal(sig)}});
    _exit(1);
  });
  const int rc = app.Run();
  app_done.store(true);
  // SIGTERM is blocked in that thread, so it stays pending until its sigwait.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  return rc;
}
