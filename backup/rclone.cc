#include "backup/rclone.h"

#include <signal.h>

#include <sstream>

#include "backup/child_process.h"

namespace stemedb::backup {

namespace {

// rclone's documented exit code for "directory not found".
constexpr int kRcloneDirNotFound = 3;

// Last few non-empty lines of rclone's stderr: enough to say why, without
// flooding the terminal with a retry log.
std::string StderrTail(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  std::string out;
  size_t from = lines.size() > 5 ? lines.size() - 5 : 0;
  for (size_t i = from; i < lines.size(); ++i) out += (out.empty() ? "" : "\n  ") + lines[i];
  return out;
}

Status CommandFailed(const std::vector<std::string>& argv, const ChildExit& exit) {
  std::string msg = JoinArgv(argv) + " failed (exit " + std::to_string(exit.code) + ")";
  std::string tail = StderrTail(exit.stderr_text);
  if (!tail.empty()) msg += ":\n  " + tail;
  return Status::IOError(msg);
}

// Waits for rclone to end; a non-zero exit is the failure its stderr names.
Result<ChildExit> WaitSucceeded(ChildProcess& child, const std::vector<std::string>& argv) {
  auto exit = child.Wait();
  if (!exit) return exit.error();
  if (exit->code != 0) return CommandFailed(argv, *exit);
  return exit;
}

}  // namespace

Rclone::Rclone(RcloneOptions options) : options_(std::move(options)) {}

std::vector<std::string> Rclone::Argv(std::initializer_list<std::string> args) const {
  std::vector<std::string> argv{options_.binary};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  return argv;
}

Result<std::string> Rclone::Run(std::initializer_list<std::string> args) {
  const ChildOptions opts{.argv = Argv(args), .stdout_mode = ChildOptions::Output::kCapture};
  auto child = ChildProcess::Start(opts);
  if (!child) return child.error();
  auto exit = WaitSucceeded(**child, opts.argv);
  if (!exit) return exit.error();
  return std::move(exit->stdout_text);
}

Status Rclone::Rcat(const std::string& remote,
                    const std::function<Status(const ChunkSink&)>& producer) {
  const ChildOptions opts{.argv = Argv({"rcat", remote}), .stdin_mode = ChildOptions::Input::kPipe};
  auto child = ChildProcess::Start(opts);
  if (!child) return child.error();
  Status produced = producer([&](std::string_view chunk) { return (*child)->Write(chunk); });
  if (!produced.ok()) {
    // Closing stdin would let rclone commit a short object under `remote`;
    // kill it first so the upload is abandoned instead.
    (*child)->Signal(SIGKILL);
    auto exit = (*child)->Wait();
    // A write error usually means rclone died first: its stderr says why.
    if (exit && !exit->signaled && exit->code != 0) return CommandFailed(opts.argv, *exit);
    return produced;
  }
  auto exit = WaitSucceeded(**child, opts.argv);
  return exit ? Status::OK() : exit.error();
}

Status Rclone::RcatString(const std::string& remote, std::string_view data) {
  return Rcat(remote, [&](const ChunkSink& sink) { return sink(data); });
}

Status Rclone::Cat(const std::string& remote,
                   const std::function<Status(const ArchiveSource&)>& consumer) {
  const ChildOptions opts{.argv = Argv({"cat", remote}),
                          .stdout_mode = ChildOptions::Output::kPipe};
  auto child = ChildProcess::Start(opts);
  if (!child) return child.error();
  bool eof = false;
  ArchiveSource source = [&](char* buf, size_t n) -> Result<size_t> {
    auto got = (*child)->Read(buf, n);
    if (got && *got == 0) eof = true;
    return got;
  };
  Status consumed = consumer(source);
  if (!consumed.ok() && !eof) {
    // The consumer gave up early (corrupt data): stop rclone, and report
    // the consumer's finding.
    (*child)->Signal(SIGTERM);
    auto exit = (*child)->Wait();
    (void)exit;
    return consumed;
  }
  // rclone reached its end of output: if it failed, that is the real cause
  // of any short stream the consumer saw.
  auto exit = WaitSucceeded(**child, opts.argv);
  return exit ? consumed : exit.error();
}

Result<std::string> Rclone::CatString(const std::string& remote, size_t max_bytes) {
  std::string out;
  Status s = Cat(remote, [&](const ArchiveSource& source) -> Status {
    char buf[4096];
    for (;;) {
      auto n = source(buf, sizeof(buf));
      if (!n) return n.error();
      if (*n == 0) return Status::OK();
      out.append(buf, *n);
      if (out.size() > max_bytes) return Status::IOError(remote + " is larger than expected");
    }
  });
  if (!s.ok()) return s;
  return out;
}

Status Rclone::MoveTo(const std::string& from, const std::string& to) {
  auto r = Run({"moveto", from, to});
  return r ? Status::OK() : r.error();
}

Status Rclone::DeleteFile(const std::string& remote) {
  auto r = Run({"deletefile", remote});
  return r ? Status::OK() : r.error();
}

Result<std::vector<std::string>> Rclone::ListFiles(const std::string& remote_dir) {
  ChildOptions opts;
  opts.argv = Argv({"lsf", "--files-only", remote_dir});
  opts.stdout_mode = ChildOptions::Output::kCapture;
  auto child = ChildProcess::Start(opts);
  if (!child) return child.error();
  auto exit = (*child)->Wait();
  if (!exit) return exit.error();
  if (exit->code == kRcloneDirNotFound) return std::vector<std::string>{};
  if (exit->code != 0) return CommandFailed(opts.argv, *exit);
  std::vector<std::string> names;
  std::istringstream in(exit->stdout_text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

std::string JoinRemote(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == ':' || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::pair<std::string, std::string> SplitRemote(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t colon = path.find(':');
  if (slash != std::string::npos && (colon == std::string::npos || slash > colon)) {
    // Keep the root of "remote:/name" (absolute) distinct from "remote:name".
    size_t dir_len = slash == 0 || slash == colon + 1 ? slash + 1 : slash;
    return {path.substr(0, dir_len), path.substr(slash + 1)};
  }
  if (colon != std::string::npos) return {path.substr(0, colon + 1), path.substr(colon + 1)};
  return {"", path};
}

}  // namespace stemedb::backup
