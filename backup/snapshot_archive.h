// Snapshot archives (SPEC §7): what GET /v1/admin/backup streams and what
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
  uint64_t snapshot_lsn = 0;
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// Streams the archive to `sink` in chunks. A non-OK Status from `sink` aborts.
Result<SnapshotInfo> WriteSnapshotArchive(engine::Database& db, const SnapshotOptions& options,
                                          const std::function<Status(std::string_view)>& sink);

}  // namespace stemedb::backup
