// `stemectl backup`, `backup list`, `backup verify` and `restore`
// (docs/backup.md). The work is in backup/remote_backup.h; this
// file parses flags, streams GET /v1/admin/backup, and maps failures to
// exit codes.
#pragma once

#include <string>
#include <vector>

namespace stemedb::ctl {

// Exit codes of these commands, beyond cli_common.h's 0 ok, 1 failed,
// 2 usage, 3 server unreachable, 4 auth (stable for scripts and the CronJob):
inline constexpr int kExitBackupCorrupt = 5;   // verification failed: checksum/manifest/tar
inline constexpr int kExitTargetNotEmpty = 6;  // restore target holds something else

// `args` starts with the command word, "backup" or "restore", followed by
// its flags (a `--url URL` may appear anywhere). Reads STEMEDB_ADMIN_KEY and
// STEMEDB_URL. Prints results to stdout, errors (with rclone's stderr) to
// stderr. Returns the process exit code.
int RunBackupCommand(const std::vector<std::string>& args);

}  // namespace stemedb::ctl
