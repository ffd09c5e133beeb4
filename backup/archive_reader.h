// ReadSnapshotArchive: the one reader of snapshot archives, used by
// `stemectl backup verify` (check only) and `stemectl restore` (check and
// unpack). It trusts nothing in the stream:
//
//   - the tar structure (header checksums, truncation) as libarchive sees it;
//   - MANIFEST.json must come first and parse (backup/manifest.h);
//   - every later entry is a directory or a regular file with a safe relative
//     path (no absolute path, no "..": no escaping the target directory);
//     links and special files are refused;
//   - every file is listed in the manifest, appears once, and has the
//     manifest's size and SHA-256; every listed file is present;
//   - optionally, the SHA-256 of the whole byte stream (the remote's .sha256
//     sidecar) matches, which also covers the tar padding no per-file check
//     sees.
//
// UNPACKING goes into an empty directory only (created if missing; a
// non-empty one is refused with Conflict before anything is read). Files are
// written as they stream, then fsynced with their directories. On ANY failure
// everything unpacked is removed, so the target is left empty: a half
// restored data dir must never be mistaken for a good one. Making a finished
// unpack visible to the server in one step is backup/restore.h's job.
//
// Memory: one 1 MiB buffer plus the manifest, whatever the archive size.
// Errors: Corruption (the archive is bad), Conflict (target not empty),
// IOError/NoSpace (the source or the target disk failed).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "backup/manifest.h"
#include "util/env.h"
#include "util/status.h"

namespace stemedb::backup {

// Pull source: reads up to `n` bytes into `buf`; returns how many, 0 at end
// of stream. A non-OK result aborts the read with that Status.
using ArchiveSource = std::function<Result<size_t>(char* buf, size_t n)>;

struct ArchiveReadOptions {
  // Directory to unpack into; "" verifies only.
  std::string unpack_dir;
  // Expected SHA-256 (hex) of the whole stream; "" skips that check.
  std::string expected_sha256;
  // With a non-empty value (e.g. "db"), only that archive directory is
  // unpacked, its prefix stripped: "db/CURRENT" lands in unpack_dir/CURRENT.
  // Other directory entries are verified but not created; a file outside it
  // is Corruption (it would be dropped). "" unpacks the whole archive.
  std::string unpack_subdir;
  // Every file and directory of the unpack goes through this Env.
  Env* env = Env::Default();
};

struct ArchiveSummary {
  Manifest manifest;
  uint64_t archive_bytes = 0;  // bytes read from the source, to its end
  std::string archive_sha256;  // SHA-256 of those bytes
  uint64_t data_bytes = 0;     // sum of file sizes
};

Result<ArchiveSummary> ReadSnapshotArchive(const ArchiveSource& source,
                                           const ArchiveReadOptions& options);

// Convenience: reads the archive from a local file.
Result<ArchiveSummary> ReadSnapshotArchiveFile(const std::string& path,
                                               const ArchiveReadOptions& options);

// Conflict unless `dir` is missing or an empty directory; creates it if
// missing. Exposed so callers can refuse a bad target before any download.
Status PrepareEmptyDir(const std::string& dir);

// Removes everything inside `dir`, leaving `dir` itself: the cleanup of a
// failed unpack (the directory was empty before it started).
void RemoveDirContents(const std::string& dir);

}  // namespace stemedb::backup
