// WriteCheckpointArchive: streams a finished, immutable checkpoint directory
// as a snapshot archive (tar, POSIX pax restricted, via libarchive).
//
// ARCHIVE LAYOUT (docs/backup.md)
//   MANIFEST.json          first, so a reader knows what to expect before
//                          any data (see backup/manifest.h)
//   db/                    directory entry
//   db/<file>...           every file of the checkpoint, in path order
//   wal/                   empty directory entry: the restored server starts
//                          its WAL at snapshot_lsn + 1
//
// The manifest must precede the data it describes, so every file is read
// twice: once to hash it (pass 1), once to stream it (pass 2). Pass 2 hashes
// again and fails if a file changed in between, so the archive never
// disagrees with its own manifest. Memory: one 1 MiB buffer plus libarchive's
// 10 KiB block, whatever the checkpoint size.
//
// Used by WriteSnapshotArchive (backup/snapshot_archive.h) and, directly, by
// tests that build archives from a prepared directory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "backup/snapshot_archive.h"
#include "util/status.h"

namespace stemedb::backup {

// Size of each read from a checkpoint file and of each chunk handed on.
inline constexpr size_t kIoChunkBytes = 1 << 20;

// REQUIRES: `checkpoint_dir` holds only regular files (and subdirectories)
// that nobody modifies during the call. `sink` receives the archive bytes in
// order; a non-OK Status from it aborts and is returned.
Result<SnapshotInfo> WriteCheckpointArchive(const std::string& checkpoint_dir,
                                            uint64_t snapshot_lsn,
                                            const std::string& server_version,
                                            const std::function<Status(std::string_view)>& sink);

}  // namespace stemedb::backup
