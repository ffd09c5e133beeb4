// Snapshot archives (docs/backup.md): what GET /v1/admin/backup streams and what
// `stemectl restore` unpacks. The layout is documented in docs/backup.md.
//
// WriteSnapshotArchive takes a RocksDB checkpoint (engine::Database::
// CreateCheckpoint, which flushes first, so the checkpoint alone is consistent
// at its applied LSN = the snapshot LSN) into a temporary directory beside the
// DB, streams it as a tar archive (libarchive) with MANIFEST.json first-class
// inside (format version, snapshot LSN, time, server version, every file with
// size and SHA-256), then deletes the temporary directory. Memory is bounded
// by one read buffer; writers are stalled only for the checkpoint itself.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "engine/database.h"
#include "util/status.h"

namespace stemedb::backup {

struct SnapshotOptions {
  // Where the temporary checkpoint goes (same filesystem as the DB, so the
  // checkpoint hard-links SSTs). Required.
  std::string scratch_dir;
  std::string server_version;
};

struct SnapshotInfo {
  uint64_t snapshot_lsn = 0;  // the checkpoint's applied LSN
  uint64_t files = 0;         // data files in the archive (MANIFEST.json excluded)
  uint64_t bytes = 0;         // archive bytes handed to the sink
};

// Streams the archive to `sink` in chunks. A non-OK Status from `sink` aborts.
// The temporary checkpoint (<scratch_dir>/backup-<pid>-<n>) is removed on
// every path, success or not. Errors: whatever CreateCheckpoint returns
// (Unavailable while closing, IOError, NoSpace), IOError reading the
// checkpoint, or the sink's Status. On error the sink has received a prefix
// of an archive, which any reader rejects (truncated tar / missing files).
// Thread-safety: concurrent calls are allowed (distinct scratch names).
Result<SnapshotInfo> WriteSnapshotArchive(engine::Database& db, const SnapshotOptions& options,
                                          const std::function<Status(std::string_view)>& sink);

}  // namespace stemedb::backup
