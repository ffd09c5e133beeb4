// RestoreSnapshot: writes a snapshot archive into the server's layout (a WAL
// directory and a RocksDB directory, possibly on different volumes) so that a
// restore killed at ANY point leaves either nothing the server will open or
// the whole snapshot, and a retry finishes the job (docs/backup.md).
//
// PROTOCOL (W = WAL dir, B = DB dir, P = the directory holding B)
//   1. Inspect (nothing written): W must be missing or empty, B missing or
//      empty, or the target holds one of our own states below. Then lock
//      P/LOCK, the server's data-dir lock in the default layout (P is
//      STEMEDB_DATA_DIR) and in k3s/base/deployment.yaml, so a restore never
//      runs beside a server or another restore, and inspect again.
//   2. Create the scratch directory P/.<name of B>.restore-tmp, then W (it
//      stays empty: the checkpoint is consistent on its own, the server
//      continues the WAL at snapshot LSN + 1), durably. From here on the
//      server refuses to start (CheckNoInterruptedRestore) until step 5.
//   3. Unpack the archive's db/ into the scratch, verifying as it streams;
//      every file and directory fsynced (backup/archive_reader.h).
//   4. Write the marker scratch/RESTORED (backup name, archive SHA-256,
//      snapshot LSN) atomically, last. (An archive restore first replays
//      WAL segments into the scratch: RestoreRequest::before_commit.)
//   5. rename(scratch, B), fsync P: the one step that makes the snapshot
//      visible. B is missing or an empty directory, which rename replaces.
//   Any reported failure removes the scratch, so B is as it was (empty).
//
// RETRY (a k8s Job's backoff, an operator re-running the command)
//   - scratch present: an interrupted restore; its contents are removed (the
//     directory stays, so the server keeps refusing) and the restore redone.
//   - B holds a marker for this backup and archive SHA-256, and W is still
//     empty (the server never ran on it): "already restored", nothing done.
//   - anything else in W or B: Conflict, naming what is there.
// The server reads RESTORED at its first start (the store-identity check:
// an empty WAL dir beside this DB is expected) and then removes it
// (api/app.cc), so a started store is "anything else".
//
// B must not be a volume's mount point (rename cannot replace one, and the
// server builds backup checkpoints beside B, so P must be on B's volume);
// W may be one. `lost+found` in W is ignored.
//
// Thread-safety: free functions; a target is protected by the lock above.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "backup/archive_reader.h"
#include "util/env.h"
#include "util/status.h"

namespace stemedb::backup {

// Name of the marker inside a restored DB dir; RocksDB ignores it.
inline constexpr std::string_view kRestoredMarkerName = "RESTORED";

struct RestoreTarget {
  std::string wal_dir;  // STEMEDB_WAL_DIR
  std::string db_dir;   // STEMEDB_DB_DIR
  // The server's default layout under STEMEDB_DATA_DIR: D/wal and D/db.
  static RestoreTarget InDataDir(const std::string& data_dir);
};

// The marker: which backup a DB dir was restored from.
struct RestoredMarker {
  std::string backup;  // REMOTE:PATH/NAME or a local archive path
  std::string sha256;  // of the whole archive
  uint64_t snapshot_lsn = 0;
  std::string restored_at;  // RFC 3339 UTC

  std::string ToJson() const;
  static Result<RestoredMarker> Parse(std::string_view json);
};

// P/.<name of B>.restore-tmp.
std::string RestoreScratchPath(const std::string& db_dir);

// For the server, before it creates or opens anything: Failed, with a line
// that says what to do, if a restore into `db_dir` was interrupted.
Status CheckNoInterruptedRestore(Env* env, const std::string& db_dir);

enum class RestoreTargetState {
  kEmpty,        // W and B missing or empty: restore may start
  kInterrupted,  // a scratch directory is left: remove it and redo
  kRestored,     // B holds a marker, W is still empty
};

struct RestoreTargetInfo {
  RestoreTargetState state = RestoreTargetState::kEmpty;
  std::optional<RestoredMarker> marker;  // kRestored only
};

// Step 1, read-only. Conflict (naming the entries) if W or B holds anything
// else; InvalidArgument if B is a mount point; IOError if unreadable.
Result<RestoreTargetInfo> InspectRestoreTarget(Env* env, const RestoreTarget& target);

// Calls `consumer` with the archive's bytes as a pull source (Rclone::Cat,
// or a local file); returns the consumer's Status or the source's failure.
using ArchiveFetcher = std::function<Status(const std::function<Status(const ArchiveSource&)>&)>;

struct RestoreRequest {
  RestoreTarget target;
  std::string backup;           // recorded in the marker and compared on retry
  std::string expected_sha256;  // of the whole archive (the .sha256 sidecar)
  Env* env = Env::Default();
  // Runs between steps 3 and 4 on the verified, unpacked store in the
  // scratch directory (its path is the argument), with the marker about to
  // be written: the archive restore (backup/archive_restore.h) replays WAL
  // segments there and sets marker->snapshot_lsn to where it stopped. A
  // failure removes the scratch like any other. Unset = none.
  std::function<Status(const std::string& scratch, RestoredMarker* marker)> before_commit;
};

struct RestoreOutcome {
  bool already_restored = false;          // the target held exactly this backup
  bool removed_leftover = false;          // an interrupted restore was cleaned first
  RestoredMarker marker;                  // what B holds now
  std::optional<ArchiveSummary> summary;  // unset when already restored
};

// Runs the protocol above. Errors: Conflict (target holds something else),
// Busy (lock held), Corruption (the archive is bad), InvalidArgument,
// IOError/NoSpace.
Result<RestoreOutcome> RestoreSnapshot(const RestoreRequest& request, const ArchiveFetcher& fetch);

}  // namespace stemedb::backup
