#include "stemectl/backup_command.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include "backup/archive_restore.h"
#include "backup/remote_backup.h"
#include "backup/wal_archive.h"
#include "stemectl/http_client.h"
#include "util/env.h"
#include "util/time_format.h"

namespace stemedb::ctl {

namespace {

// Mirrors cli_common.h's ExitCode, which this file does not link against.
constexpr int kOk = 0, kFailed = 1, kUsage = 2, kUnreachable = 3, kAuth = 4;

const char* kBackupHelp =
    "usage: stemectl backup --remote REMOTE:PATH [--keep N] [--url URL]\n"
    "       stemectl backup list --remote REMOTE:PATH\n"
    "       stemectl backup verify --remote REMOTE:PATH/NAME\n"
    "\n"
    "backup       streams a consistent snapshot (GET /v1/admin/backup) into\n"
    "             `rclone rcat REMOTE:PATH/<name>.partial`, reads it back to verify\n"
    "             checksum and manifest, writes NAME.sha256, renames it to\n"
    "             stemedb-YYYYmmddTHHMMSSZ-lsnN.tar and, with --keep N, deletes all\n"
    "             but the newest N backups.\n"
    "backup list  lists complete backups, oldest first.\n"
    "backup verify  downloads NAME and checks it against NAME.sha256 and its\n"
    "             manifest, writing nothing.\n"
    "\n"
    "environment: STEMEDB_ADMIN_KEY (required for backup), STEMEDB_URL (default\n"
    "http://127.0.0.1:18180); rclone reads RCLONE_CONFIG or RCLONE_CONFIG_<REMOTE>_*.\n"
    "exit codes: 0 ok, 1 failed (rclone, I/O, server error), 2 usage, 3 server\n"
    "unreachable, 4 auth, 5 backup failed verification.\n";

const char* kRestoreHelp =
    "usage: stemectl restore (--remote REMOTE:PATH/NAME\n"
    "                         | (--latest | --to-lsn N | --to-time RFC3339) --remote-dir "
    "REMOTE:PATH)\n"
    "                        (--data-dir DIR | --wal-dir WAL_DIR --db-dir DB_DIR)\n"
    "\n"
    "--remote restores that backup. With --remote-dir, the WAL archive in\n"
    "REMOTE:PATH/wal/ (STEMEDB_ARCHIVE_REMOTE) is replayed on top of the newest\n"
    "base backup at or below the target: --latest up to the end of the archive\n"
    "(just the newest backup if there is no archive), --to-lsn N exactly through\n"
    "LSN N, --to-time T every record recorded at or before T. Every segment is\n"
    "checked against its .sha256 sidecar and the LSN chain; a gap or a bad\n"
    "segment stops the restore with a message naming it.\n"
    "\n"
    "Fetches the backup with `rclone cat`, verifies it against NAME.sha256 and its manifest while\n"
    "unpacking it into a scratch directory beside the DB dir, fsyncs it, and\n"
    "renames it into place in one step. The target is the server's layout:\n"
    "--data-dir DIR writes DIR/wal and DIR/db (STEMEDB_DATA_DIR=DIR);\n"
    "--wal-dir/--db-dir write the STEMEDB_WAL_DIR and STEMEDB_DB_DIR of a\n"
    "deployment directly. Both must be missing or empty; the WAL dir stays empty\n"
    "(the server continues after the snapshot LSN).\n"
    "\n"
    "Safe to re-run: a run killed at any point leaves nothing the server starts\n"
    "from (it refuses an interrupted restore); the next run removes the\n"
    "leftovers and redoes it, and a finished one reports \"already restored\".\n"
    "\n"
    "exit codes: 0 restored or already restored, 1 failed (rclone, I/O, lock\n"
    "held, a gap in the archive), 2 usage, 5 backup or segment failed\n"
    "verification, 6 target not empty.\n";

const char* kArchiveHelp =
    "usage: stemectl archive prune --remote-dir REMOTE:PATH --keep-days N\n"
    "\n"
    "Deletes the archived WAL segments (REMOTE:PATH/wal/, written by a server\n"
    "with STEMEDB_ARCHIVE_REMOTE) that no point-in-time restore to a time within\n"
    "the last N days can need: every segment whose records all lie at or below\n"
    "the snapshot LSN of the newest base backup taken N days ago or earlier\n"
    "(or, if none is that old, of the oldest base). A base backup needs only the\n"
    "segments after its own LSN, so none that a kept backup needs is removed.\n"
    "With no base backup nothing is deleted. Base backups are pruned by\n"
    "`stemectl backup --keep`. Safe to repeat.\n"
    "\n"
    "exit codes: 0 done, 1 failed (rclone, no base backup), 2 usage.\n";

struct Flags {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  bool help = false;
};

std::optional<Flags> ParseFlags(const std::vector<std::string>& args, size_t from) {
  static const std::set<std::string_view> kValued = {
      "--remote", "--keep",       "--url",    "--data-dir", "--wal-dir",
      "--db-dir", "--remote-dir", "--to-lsn", "--to-time",  "--keep-days"};
  static const std::set<std::string_view> kSwitches = {"--latest"};
  Flags flags;
  for (size_t i = from; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      flags.help = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      flags.positional.push_back(arg);
      continue;
    }
    if (kSwitches.contains(arg)) {
      flags.values[arg] = "true";
      continue;
    }
    std::string value;
    size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (kValued.contains(arg) && i + 1 < args.size()) {
      value = args[++i];
    } else {
      std::cerr << "stemectl: "
                << (kValued.contains(arg) ? arg + " needs a value" : "unknown flag " + arg) << "\n";
      return std::nullopt;
    }
    if (!kValued.contains(arg)) {
      std::cerr << "stemectl: unknown flag " << arg << "\n";
      return std::nullopt;
    }
    flags.values[arg] = value;
  }
  return flags;
}

int Usage(const char* help, const std::string& message) {
  std::cerr << "stemectl: " << message << "\n\n" << help;
  return kUsage;
}

int ExitFor(const Status& s) {
  switch (s.code()) {
    case Status::Code::kCorruption:
      return kExitBackupCorrupt;
    case Status::Code::kConflict:
      return kExitTargetNotEmpty;
    case Status::Code::kInvalidArgument:
      return kUsage;
    default:
      return kFailed;
  }
}

int Fail(const Status& s, int code) {
  std::cerr << "stemectl: " << s.ToString() << "\n";
  return code;
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

int RunUpload(const Flags& flags) {
  auto remote = flags.values.find("--remote");
  if (remote == flags.values.end()) return Usage(kBackupHelp, "--remote REMOTE:PATH is required");
  backup::UploadOptions options;
  options.remote_dir = remote->second;
  if (auto keep = flags.values.find("--keep"); keep != flags.values.end()) {
    char* end = nullptr;
    long n = std::strtol(keep->second.c_str(), &end, 10);
    if (end == keep->second.c_str() || *end != '\0' || n < 1) {
      return Usage(kBackupHelp, "--keep must be a positive integer");
    }
    options.keep = static_cast<size_t>(n);
  }
  const std::string key = EnvOr("STEMEDB_ADMIN_KEY", "");
  if (key.empty()) return Usage(kBackupHelp, "STEMEDB_ADMIN_KEY is not set");
  std::string url = EnvOr("STEMEDB_URL", "http://127.0.0.1:18180");
  if (auto u = flags.values.find("--url"); u != flags.values.end()) url = u->second;

  client::HttpClientOptions http_options;
  // Per-read inactivity bound: the checkpoint is taken before the first
  // byte, which can take a while on a large store.
  http_options.request_timeout = std::chrono::minutes(10);
  client::HttpClient http(url, http_options);
  int server_exit = kOk;
  backup::ArchiveProducer producer = [&](const backup::ChunkSink& sink) -> Status {
    auto response = http.Download("/v1/admin/backup", {{"X-API-Key", key}}, sink);
    if (!response) {
      if (response.error().code() == Status::Code::kUnavailable) server_exit = kUnreachable;
      return response.error().WithContext("GET " + url + "/v1/admin/backup");
    }
    if (response->status != 200) {
      server_exit = (response->status == 401 || response->status == 403) ? kAuth : kFailed;
      if (response->status == 503) server_exit = kUnreachable;
      // The error body is docs/api.md JSON and never contains a key.
      return Status::IOError("GET /v1/admin/backup: HTTP " + std::to_string(response->status) +
                             " " + response->body);
    }
    return Status::OK();
  };
  backup::Rclone rclone;
  auto result = backup::UploadBackup(rclone, producer, options);
  if (!result) {
    int code = server_exit != kOk ? server_exit : ExitFor(result.error());
    // Conflict here is a name collision, not a restore target.
    if (code == kExitTargetNotEmpty) code = kFailed;
    return Fail(result.error(), code);
  }
  std::cout << "backup " << result->remote << "\n"
            << "  snapshot_lsn " << result->snapshot_lsn << "\n"
            << "  bytes        " << result->bytes << "\n"
            << "  sha256       " << result->sha256 << "\n";
  for (const std::string& name : result->pruned) std::cout << "pruned " << name << "\n";
  return kOk;
}

int RunList(const Flags& flags) {
  auto remote = flags.values.find("--remote");
  if (remote == flags.values.end()) return Usage(kBackupHelp, "--remote REMOTE:PATH is required");
  backup::Rclone rclone;
  auto list = backup::ListBackups(rclone, remote->second);
  if (!list) return Fail(list.error(), ExitFor(list.error()));
  std::cout << std::left << std::setw(48) << "NAME" << std::setw(22) << "CREATED"
            << "SNAPSHOT_LSN\n";
  for (const backup::BackupName& b : *list) {
    std::time_t t = static_cast<std::time_t>(b.unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char when[32];
    std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::cout << std::left << std::setw(48) << b.name << std::setw(22) << when << b.lsn << "\n";
  }
  return kOk;
}

void PrintSummary(const backup::ArchiveSummary& s) {
  std::cout << "  snapshot_lsn   " << s.manifest.snapshot_lsn << "\n"
            << "  created_at     " << s.manifest.created_at << "\n"
            << "  server_version " << s.manifest.server_version << "\n"
            << "  files          " << s.manifest.files.size() << " (" << s.data_bytes << " bytes)\n"
            << "  sha256         " << s.archive_sha256 << "\n";
}

int RunVerify(const Flags& flags) {
  auto remote = flags.values.find("--remote");
  if (remote == flags.values.end()) {
    return Usage(kBackupHelp, "--remote REMOTE:PATH/NAME is required");
  }
  backup::Rclone rclone;
  auto summary = backup::VerifyBackup(rclone, remote->second);
  if (!summary) return Fail(summary.error(), ExitFor(summary.error()));
  std::cout << "ok " << remote->second << "\n";
  PrintSummary(*summary);
  return kOk;
}

#ifdef STEMEDB_FAILPOINTS
// Test builds only: STEMECTL_FAILPOINT=kill_before_op=N logs each
// directory-changing Env call of the restore (create, sync, rename, remove)
// to stderr and sends this process SIGKILL just before the Nth (0: never),
// so tests/e2e/restore_kill_test.cc can kill it between any two steps.
class KillPointEnv : public EnvWrapper {
 public:
  KillPointEnv(Env* target, uint64_t kill_before) : EnvWrapper(target), kill_before_(kill_before) {}

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    Step("NewWritableFile " + p);
    return EnvWrapper::NewWritableFile(p);
  }
  Status RemoveFile(const std::string& p) override {
    Step("RemoveFile " + p);
    return EnvWrapper::RemoveFile(p);
  }
  Status RenameFile(const std::string& f, const std::string& t) override {
    Step("RenameFile " + f + " -> " + t);
    return EnvWrapper::RenameFile(f, t);
  }
  Result<bool> CreateDir(const std::string& d) override {
    Step("CreateDir " + d);
    return EnvWrapper::CreateDir(d);
  }
  Status SyncDir(const std::string& d) override {
    Step("SyncDir " + d);
    return EnvWrapper::SyncDir(d);
  }

 private:
  void Step(const std::string& what) {
    ++ops_;
    std::cerr << "stemectl: failpoint: op " << ops_ << ": " << what << std::endl;
    if (ops_ == kill_before_) ::raise(SIGKILL);
  }

  const uint64_t kill_before_;
  uint64_t ops_ = 0;
};

std::unique_ptr<Env> FailpointEnv() {
  const char* spec = std::getenv("STEMECTL_FAILPOINT");
  constexpr std::string_view kKey = "kill_before_op=";
  if (spec == nullptr || !std::string_view(spec).starts_with(kKey)) return nullptr;
  return std::make_unique<KillPointEnv>(Env::Default(),
                                        std::strtoull(spec + kKey.size(), nullptr, 10));
}
#else
std::unique_ptr<Env> FailpointEnv() { return nullptr; }
#endif

// --data-dir D, or --wal-dir W --db-dir B; nullopt (usage) otherwise.
std::optional<backup::RestoreTarget> TargetFrom(const Flags& flags, std::string* where) {
  auto get = [&](const char* name) {
    auto it = flags.values.find(name);
    return it == flags.values.end() ? std::string() : it->second;
  };
  const std::string data_dir = get("--data-dir");
  const std::string wal_dir = get("--wal-dir"), db_dir = get("--db-dir");
  if (!data_dir.empty() && wal_dir.empty() && db_dir.empty()) {
    *where = "STEMEDB_DATA_DIR=" + data_dir;
    return backup::RestoreTarget::InDataDir(data_dir);
  }
  if (data_dir.empty() && !wal_dir.empty() && !db_dir.empty()) {
    *where = "STEMEDB_WAL_DIR=" + wal_dir + " STEMEDB_DB_DIR=" + db_dir;
    return backup::RestoreTarget{.wal_dir = wal_dir, .db_dir = db_dir};
  }
  return std::nullopt;
}

// What both restore forms need before they fetch: the target directories, how
// to point the server at them, and (test builds) the kill-point Env.
struct RestoreSetup {
  backup::RestoreTarget target;
  std::string where;
  std::unique_ptr<Env> failpoint_env;
};

constexpr const char* kRestoreTargetUsage =
    "give either --data-dir DIR or both --wal-dir and --db-dir";

std::optional<RestoreSetup> SetupRestore(const Flags& flags) {
  RestoreSetup setup;
  auto target = TargetFrom(flags, &setup.where);
  if (!target) return std::nullopt;
  setup.target = *target;
  setup.failpoint_env = FailpointEnv();
  return setup;
}

// --latest | --to-lsn | --to-time with --remote-dir: base backup + WAL archive.
int RunArchiveRestore(const Flags& flags) {
  auto get = [&](const char* name) {
    auto it = flags.values.find(name);
    return it == flags.values.end() ? std::string() : it->second;
  };
  backup::ArchiveRestoreOptions options;
  options.remote_dir = get("--remote-dir");
  const int targets = static_cast<int>(flags.values.contains("--latest")) +
                      static_cast<int>(flags.values.contains("--to-lsn")) +
                      static_cast<int>(flags.values.contains("--to-time"));
  if (options.remote_dir.empty() || flags.values.contains("--remote") || targets != 1) {
    return Usage(kRestoreHelp,
                 "give --remote-dir REMOTE:PATH with exactly one of --latest, --to-lsn N, "
                 "--to-time RFC3339 (and no --remote)");
  }
  if (flags.values.contains("--to-lsn")) {
    const std::string v = get("--to-lsn");
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0 || n == 0) {
      return Usage(kRestoreHelp, "--to-lsn must be a positive integer, got '" + v + "'");
    }
    options.to_lsn = n;
  }
  if (flags.values.contains("--to-time")) {
    auto t = ParseRfc3339(get("--to-time"));
    if (!t) {
      return Usage(kRestoreHelp,
                   "--to-time must be an RFC 3339 time (2026-12-02T01:30:00Z), got '" +
                       get("--to-time") + "'");
    }
    options.to_time_us = *t;
  }
  auto setup = SetupRestore(flags);
  if (!setup) return Usage(kRestoreHelp, kRestoreTargetUsage);
  options.target = setup->target;
  if (setup->failpoint_env) options.env = setup->failpoint_env.get();

  backup::Rclone rclone;
  auto result = backup::RestoreFromArchive(rclone, options);
  if (!result) return Fail(result.error(), ExitFor(result.error()));
  const backup::RestoreOutcome& out = result->outcome;
  if (out.already_restored) {
    std::cout << "already restored " << result->base << " to lsn " << out.marker.snapshot_lsn
              << " (restored at " << out.marker.restored_at << "); nothing to do\n";
  } else {
    if (out.removed_leftover) std::cout << "removed the leftovers of an interrupted restore\n";
    std::cout << "restored " << result->base << " (snapshot_lsn " << result->base_lsn << ")\n"
              << "  replayed " << result->segments << " archived segment(s) to lsn "
              << result->restored_lsn << "\n";
    if (out.summary) PrintSummary(*out.summary);
  }
  std::cout << "start the server with " << setup->where << "\n";
  return kOk;
}

int RunRestore(const Flags& flags) {
  if (flags.help) {
    std::cout << kRestoreHelp;
    return kOk;
  }
  if (!flags.positional.empty()) return Usage(kRestoreHelp, "unexpected " + flags.positional[0]);
  auto get = [&](const char* name) {
    auto it = flags.values.find(name);
    return it == flags.values.end() ? std::string() : it->second;
  };
  if (flags.values.contains("--remote-dir") || flags.values.contains("--latest") ||
      flags.values.contains("--to-lsn") || flags.values.contains("--to-time")) {
    return RunArchiveRestore(flags);
  }
  backup::RestoreOptions options;
  options.remote_object = get("--remote");
  if (options.remote_object.empty()) {
    return Usage(kRestoreHelp,
                 "--remote REMOTE:PATH/NAME (or --latest --remote-dir REMOTE:PATH) is required");
  }
  auto setup = SetupRestore(flags);
  if (!setup) return Usage(kRestoreHelp, kRestoreTargetUsage);
  options.target = setup->target;
  if (setup->failpoint_env) options.env = setup->failpoint_env.get();

  backup::Rclone rclone;
  auto result = backup::RestoreBackup(rclone, options);
  if (!result) return Fail(result.error(), ExitFor(result.error()));
  const backup::RestoreOutcome& out = result->outcome;
  if (out.already_restored) {
    std::cout << "already restored " << result->remote << " (sha256 " << out.marker.sha256
              << ", snapshot_lsn " << out.marker.snapshot_lsn << ", restored at "
              << out.marker.restored_at << "); nothing to do\n";
  } else {
    if (out.removed_leftover) {
      std::cout << "removed the leftovers of an interrupted restore\n";
    }
    std::cout << "restored " << result->remote << "\n";
    PrintSummary(*out.summary);
  }
  std::cout << "start the server with " << setup->where << "\n";
  return kOk;
}

int RunArchive(const Flags& flags, const std::string& sub) {
  if (flags.help) {
    std::cout << kArchiveHelp;
    return kOk;
  }
  if (sub != "prune" || !flags.positional.empty()) {
    return Usage(kArchiveHelp, "expected `archive prune`");
  }
  auto dir = flags.values.find("--remote-dir");
  auto days = flags.values.find("--keep-days");
  if (dir == flags.values.end() || days == flags.values.end()) {
    return Usage(kArchiveHelp, "--remote-dir REMOTE:PATH and --keep-days N are required");
  }
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(days->second.c_str(), &end, 10);
  if (days->second.empty() || *end != '\0' || errno != 0 || n < 0 || n > 36500) {
    return Usage(kArchiveHelp,
                 "--keep-days must be a whole number of days, got '" + days->second + "'");
  }
  const auto cutoff = std::chrono::system_clock::now() - std::chrono::hours(24 * n);
  backup::Rclone rclone;
  auto result = backup::PruneArchive(rclone, dir->second, cutoff);
  if (!result) return Fail(result.error(), kFailed);
  std::cout << "kept every segment after lsn " << result->floor_lsn << " (base "
            << result->floor_base << ")\n";
  for (const std::string& name : result->deleted) std::cout << "pruned " << name << "\n";
  return kOk;
}

}  // namespace

int RunBackupCommand(const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "backup" && args[0] != "restore" && args[0] != "archive")) {
    return Usage(kBackupHelp, "expected `backup`, `restore` or `archive`");
  }
  if (args[0] == "archive") {
    const bool has_sub = args.size() > 1 && !args[1].starts_with("--");
    auto flags = ParseFlags(args, has_sub ? 2 : 1);
    if (!flags) return Usage(kArchiveHelp, "bad arguments");
    return RunArchive(*flags, has_sub ? args[1] : "");
  }
  const bool restore = args[0] == "restore";
  size_t from = 1;
  std::string sub;
  if (!restore && args.size() > 1 && (args[1] == "list" || args[1] == "verify")) {
    sub = args[1];
    from = 2;
  }
  auto flags = ParseFlags(args, from);
  if (!flags) return Usage(restore ? kRestoreHelp : kBackupHelp, "bad arguments");
  if (restore) return RunRestore(*flags);
  if (flags->help) {
    std::cout << kBackupHelp;
    return kOk;
  }
  if (!flags->positional.empty()) {
    return Usage(kBackupHelp, "unknown subcommand " + flags->positional[0]);
  }
  if (sub == "list") return RunList(*flags);
  if (sub == "verify") return RunVerify(*flags);
  return RunUpload(*flags);
}

}  // namespace stemedb::ctl
