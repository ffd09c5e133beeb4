// Remote backups: what `stemectl backup|restore` do, on top of the archive
// reader and the rclone driver. The stemectl command only parses flags and
// supplies the archive stream (GET /v1/admin/backup).
//
// NAMES: stemedb-YYYYmmddTHHMMSSZ-lsnN.tar (UTC time the backup started,
// snapshot LSN), so listings sort by time. Beside each, NAME.sha256 holds
// "<sha256 hex>  NAME\n" (sha256sum format) for the whole object.
//
// UPLOAD PROTOCOL (a half-uploaded object never looks complete)
//   1. rcat the stream to stemedb-<time>.tar.partial, hashing as it passes;
//   2. read the object back (rclone cat) through the full archive verifier
//      with the hash from step 1: proves the stored bytes, the tar structure
//      and every file against the manifest, and yields the snapshot LSN;
//   3. write NAME.sha256, then rclone moveto the .partial to NAME;
//   4. prune to the newest `keep` backups (by name: time, then LSN).
//   Any failure in 1-3 deletes the .partial (and the sidecar), so only
//   complete, verified backups carry a final name. A process killed mid-way
//   can leave a *.partial, which list/prune/restore never treat as a backup.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backup/archive_reader.h"
#include "backup/rclone.h"
#include "backup/restore.h"
#include "util/status.h"

namespace stemedb::backup {

struct BackupName {
  std::string name;
  int64_t unix_seconds = 0;
  uint64_t lsn = 0;
};

std::string MakeBackupName(std::chrono::system_clock::time_point time, uint64_t lsn);
// nullopt unless `name` is exactly a backup name (sidecars, partials, other
// files in the directory are not backups).
std::optional<BackupName> ParseBackupName(const std::string& name);

// Parses a checksum sidecar ("<sha256 hex>  NAME\n", sha256sum format) of
// the object `name`; the name in it, if any, must match. Corruption if not.
// Shared with the WAL archive (backup/wal_archive.h).
Result<std::string> ParseSha256Sidecar(const std::string& text, const std::string& name);

// Supplies the archive bytes to `sink` (e.g. an HTTP download).
using ArchiveProducer = std::function<Status(const ChunkSink& sink)>;

struct UploadOptions {
  std::string remote_dir;  // REMOTE:PATH
  size_t keep = 0;         // prune to the newest N after success; 0 keeps all
  // Start time used in the name; defaults to now. Tests pin it.
  std::optional<std::chrono::system_clock::time_point> now;
};

struct UploadResult {
  std::string name;
  std::string remote;  // REMOTE:PATH/NAME
  uint64_t snapshot_lsn = 0;
  uint64_t bytes = 0;
  std::string sha256;
  std::vector<std::string> pruned;  // names deleted by retention
};

Result<UploadResult> UploadBackup(Rclone& rclone, const ArchiveProducer& producer,
                                  const UploadOptions& options);

// Complete backups in `remote_dir`, oldest first.
Result<std::vector<BackupName>> ListBackups(Rclone& rclone, const std::string& remote_dir);

// Deletes all but the newest `keep` backups (and their sidecars); returns
// the names deleted. keep == 0 is refused (InvalidArgument): deleting every
// backup is never what a retention setting means.
Result<std::vector<std::string>> PruneBackups(Rclone& rclone, const std::string& remote_dir,
                                              size_t keep);

// Downloads REMOTE:PATH/NAME and checks it against NAME.sha256 and its own
// manifest without writing anything. Corruption if it does not check out;
// NotFound/IOError if it cannot be fetched.
Result<ArchiveSummary> VerifyBackup(Rclone& rclone, const std::string& remote_object);

struct RestoreOptions {
  // What to restore: REMOTE:PATH/NAME, or (if empty) the newest complete
  // backup in `latest_in` (REMOTE:PATH).
  std::string remote_object;
  std::string latest_in;
  RestoreTarget target;
  Env* env = Env::Default();
};

struct RestoreResult {
  std::string remote;  // REMOTE:PATH/NAME restored (or found already restored)
  RestoreOutcome outcome;
};

// Downloads the backup and checks it as VerifyBackup does while
// RestoreSnapshot (backup/restore.h) writes it into the target: all or
// nothing, safe to retry. A bad target is refused (Conflict, InvalidArgument)
// before anything is downloaded. With `latest_in`, a target that already
// holds a finished, never-started restore of any backup of that directory
// counts as done (a retry must not fail because a newer backup appeared).
Result<RestoreResult> RestoreBackup(Rclone& rclone, const RestoreOptions& options);

}  // namespace stemedb::backup
