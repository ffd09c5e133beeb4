// Manifest: MANIFEST.json, the first entry of every snapshot archive.
//
//   {
//     "format_version": 1,
//     "snapshot_lsn": 1234,             // the checkpoint's applied LSN
//     "created_at": "2026-11-22T22:00:00Z",
//     "server_version": "0.1.0",
//     "files": [ {"path": "db/000012.sst", "size": 4096, "sha256": "<64 hex>"}, ... ]
//   }
//
// Every regular file of the archive other than MANIFEST.json is listed
// exactly once; nothing else is. Paths are relative, '/'-separated, without
// "." or ".." components: the reader refuses anything else (path traversal).
// The full layout is documented in docs/backup.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace stemedb::backup {

inline constexpr int kManifestFormatVersion = 1;
inline constexpr std::string_view kManifestName = "MANIFEST.json";
// Directory (inside the archive and the restored data dir) of the checkpoint.
inline constexpr std::string_view kDbDir = "db";
// Empty WAL directory of a restored data dir: the server starts its WAL at
// snapshot_lsn + 1 (WalOptions::next_lsn_floor), as the checkpoint is
// consistent on its own.
inline constexpr std::string_view kWalDir = "wal";
// A manifest larger than this is refused before it is read (it lists files,
// so even a huge DB stays far below).
inline constexpr uint64_t kMaxManifestBytes = 16ull << 20;

struct ManifestFile {
  std::string path;
  uint64_t size = 0;
  std::string sha256;  // lowercase hex
};

struct Manifest {
  int format_version = kManifestFormatVersion;
  uint64_t snapshot_lsn = 0;
  std::string created_at;  // RFC 3339 UTC
  std::string server_version;
  std::vector<ManifestFile> files;

  std::string ToJson() const;
  // Parses and validates (version, field types, safe unique paths, hex
  // digests). Corruption on any violation.
  static Result<Manifest> Parse(std::string_view json);
};

// True iff `path` is relative, non-empty, '/'-separated, with no empty, "."
// or ".." component and no NUL or backslash. A trailing '/' (directory
// entries) is allowed.
bool IsSafeArchivePath(std::string_view path);

// Current UTC time as RFC 3339 with second precision ("...Z").
std::string NowRfc3339();

}  // namespace stemedb::backup
