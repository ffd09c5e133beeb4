// stemectl: the operator's tool for a StemeDB server (docs/stemectl.md).
//
//   stemectl [--url URL] [--output table|json] [--retry-timeout SECONDS] COMMAND ...
//
// Global options may appear before or after the command. The admin key comes
// only from $STEMEDB_ADMIN_KEY, never from a flag (shell history, `ps`).
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "stemectl/admin_commands.h"
#include "stemectl/backup_command.h"
#include "stemectl/cli_common.h"
#include "stemectl/erase_command.h"
#include "stemectl/export_command.h"
#include "stemectl/keys_command.h"
#include "stemectl/projects_command.h"
#include "stemectl/smoke_command.h"
#include "stemectl/wal_command.h"

namespace {

const char* kUsage =
    "usage: stemectl [--url URL] [--output table|json] [--retry-timeout S] COMMAND ...\n"
    "\n"
    "commands:\n"
    "  keys create|list|revoke|rotate|provision   API keys and project provisioning\n"
    "  projects create|list|describe|update|recount|delete|hold|release P\n"
    "                                            projects: quotas, figures, deletion, holds\n"
    "  usage [--project P]                       metering per key and project\n"
    "  audit [--limit N]                         admin actions, newest first\n"
    "  health                                    liveness and readiness\n"
    "  promote                                   promote a warm standby to primary\n"
    "  smoke                                     deep smoke gate (throwaway key, every path)\n"
    "  backup --remote R:PATH [--keep N]         stream a snapshot to rclone\n"
    "  backup list|verify ...                    list / check uploaded backups\n"
    "  restore --remote R:PATH/NAME --data-dir D restore a backup into empty dirs, atomically\n"
    "          (or --latest|--to-lsn N|--to-time T --remote-dir R:PATH;\n"
    "           --wal-dir W --db-dir B)\n"
    "  archive prune --remote-dir R:PATH --keep-days N  delete WAL archive no restore needs\n"
    "  wal verify|repair DIR                     check (or cut a torn tail of) a WAL\n"
    "  export --project P [--as-of A] [--out F] a project as NDJSON at one LSN (resumable)\n"
    "  import --project P [--new-ids] FILE       load an export (ids kept, or derived with\n"
    "          --new-ids for a copy on the same server; re-run is safe)\n"
    "  erase --project P (--subject S | --agent A)  erase every version (right to be forgotten)\n"
    "  version\n"
    "\n"
    "environment: STEMEDB_URL (default http://127.0.0.1:18180), STEMEDB_ADMIN_KEY.\n"
    "exit codes: 0 ok, 1 failed, 2 usage, 3 server unreachable, 4 auth.\n"
    "`stemectl COMMAND --help` for details.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace stemedb::ctl;
  // A --exec hook that exits without reading the key from its stdin must
  // fail that project (EPIPE, then its exit status), not kill stemectl
  // half-way through a provisioning run.
  std::signal(SIGPIPE, SIG_IGN);
  GlobalOptions options;
  options.url = DefaultUrl();
  std::vector<std::string> args;
  bool url_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::cerr << "stemectl: " << name << " needs a value\n";
        std::exit(kExitUsage);
      }
      return argv[++i];
    };
    if (arg == "--url") {
      options.url = value("--url");
      url_given = true;
    } else if (arg == "--output" || arg == "-o") {
      auto format = ParseOutputFormat(value("--output"));
      if (!format) return ReportError(format.error().message(), kExitUsage);
      options.output = *format;
    } else if (arg == "--retry-timeout") {
      options.retry_timeout = std::chrono::seconds(std::atoi(value("--retry-timeout")));
    } else {
      args.push_back(std::move(arg));
    }
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "keys") return RunKeysCommand(options, rest);
  if (command == "projects") return RunProjectsCommand(options, rest);
  if (command == "usage") return RunUsageCommand(options, rest);
  if (command == "audit") return RunAuditCommand(options, rest);
  if (command == "health") return RunHealthCommand(options, rest);
  if (command == "promote") return RunPromoteCommand(options, rest);
  if (command == "smoke") return RunSmokeCommand(options, rest);
  if (command == "wal") return RunWalCommand(options, rest);
  if (command == "export") return RunExportCommand(options, rest);
  if (command == "import") return RunImportCommand(options, rest);
  if (command == "erase") return RunEraseCommand(options, rest);
  if (command == "backup" || command == "restore" || command == "archive") {
    std::vector<std::string> backup_args = args;
    if (url_given) {
      backup_args.push_back("--url");
      backup_args.push_back(options.url);
    }
    return stemedb::ctl::RunBackupCommand(backup_args);
  }
  if (command == "version" || command == "--version") {
    std::cout << "stemectl " << STEMEDB_VERSION << "\n";
    return kExitOk;
  }
  std::cerr << "stemectl: unknown command '" << command << "'\n" << kUsage;
  return kExitUsage;
}
