// The WAL archive's layout on a remote (docs/backup.md "Continuous
// archiving"): one definition of its names, shared by the archiver that
// writes it (backup/wal_archiver.h) and the restore that reads it
// (backup/archive_restore.h).
//
// LAYOUT, under the backups' REMOTE:PATH:
//   wal/<first>-<last>.wal          one sealed WAL segment, byte for byte up to
//                                   its last record (wal/FORMAT.md), records
//                                   first..last (16 lower-case hex digits each)
//   wal/<first>-<last>.wal.sha256   "<sha256 hex>  NAME\n" (sha256sum format)
//   wal/<first>-<last>.wal.partial  an upload in progress or abandoned; never
//                                   counts as archived
// An object carries its final name only once the remote's copy was read back
// and matched, and after its sidecar exists (upload order: .partial, read
// back, sidecar, rename).
//
// Thread-safety: free functions; an Rclone may be shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backup/rclone.h"
#include "util/env.h"
#include "util/status.h"

namespace stemedb::backup {

// The archive's directory below REMOTE:PATH.
inline constexpr std::string_view kWalArchiveDir = "wal";

struct ArchivedSegment {
  std::string name;  // <first>-<last>.wal
  uint64_t first_lsn = 0;
  uint64_t last_lsn = 0;
};

std::string ArchivedSegmentName(uint64_t first_lsn, uint64_t last_lsn);
// nullopt unless `name` is exactly a segment object name with first <= last.
std::optional<ArchivedSegment> ParseArchivedSegmentName(std::string_view name);

// REMOTE:PATH -> REMOTE:PATH/wal.
std::string WalArchiveRemote(const std::string& remote_dir);

// The complete segment objects in REMOTE:PATH/wal, by first LSN. A missing
// directory is an empty archive. Of two objects with the same first LSN the
// longer one supersedes the other (it is the same segment, extended: after a
// crash right after a seal the WAL may reopen that segment and append to
// it), so only the longer one is listed.
Result<std::vector<ArchivedSegment>> ListArchivedSegments(Rclone& rclone,
                                                          const std::string& remote_dir);

// RETENTION (`stemectl archive prune --keep-days N`): the floor is the
// snapshot LSN of the newest base backup taken at or before `cutoff` (or, if
// every base is newer, of the oldest base): a point-in-time restore to any
// time after the cutoff starts at that base or a newer one, and a base needs
// only the segments after its own LSN. Every segment object (a superseded
// one included) whose last LSN is at or below the floor is deleted, object
// first, then its sidecar; any other segment is kept. With no base backup
// nothing is deleted (NotFound): the archive is then all there is.
struct PruneResult {
  uint64_t floor_lsn = 0;
  std::string floor_base;            // the base backup that sets the floor
  std::vector<std::string> deleted;  // object names
};
Result<PruneResult> PruneArchive(Rclone& rclone, const std::string& remote_dir,
                                 std::chrono::system_clock::time_point cutoff);

// Downloads REMOTE:PATH/wal/NAME into `local_path` (created, fsynced) and
// checks it against NAME.sha256. Corruption naming the object if it does not
// match or the sidecar is missing or malformed.
Status FetchArchivedSegment(Rclone& rclone, Env* env, const std::string& remote_dir,
                            const ArchivedSegment& segment, const std::string& local_path);

}  // namespace stemedb::backup
