// RestoreFromArchive: point-in-time restore from a base backup plus the WAL
// archive (docs/backup.md "Continuous archiving"): `stemectl restore
// --latest | --to-lsn N | --to-time RFC3339 --remote-dir REMOTE:PATH`.
//
// PLAN (read-only, before anything is written)
//   1. List the base backups (backup/remote_backup.h) and the archived
//      segments (backup/wal_archive.h) of REMOTE:PATH.
//   2. Base: the newest backup whose snapshot LSN is at or below the target
//      LSN (--to-time: the newest whose name time is at or before the time;
//      if it turns out to hold a record recorded after it, the next older).
//   3. Chain: the archived segments holding snapshot LSN + 1 .. target, each
//      one starting right after the previous one. A missing LSN stops the
//      restore with NotFound naming it (never a silent partial restore);
//      --latest also refuses when the archive continues after a gap.
// APPLY, inside RestoreSnapshot's protocol (backup/restore.h: scratch dir,
//   lock, RESTORED marker, one rename; retry-safe):
//   4. unpack and verify the base into the scratch;
//   5. fetch each segment of the chain, checking it against its sidecar and
//      scanning it (header, every record's CRC, LSN range as named, chained to
//      the previous one's last LSN): a bad one is Corruption naming the
//      object; cut the last one after the target record;
//   6. open the store there with those segments as its WAL (engine replay
//      applies exactly the records after the snapshot LSN), close it, remove
//      the segments; the marker records the target as the snapshot LSN, so
//      the server opens the result as a restored store at that LSN (its WAL
//      dir stays empty and continues at target + 1).
// TIME: a record's time is its recorded_at as the engine applies it (the
//   submit time, clamped so it never goes backwards along the LSN order,
//   engine/log_entry.h), so "recorded at or before T" is a prefix of the
//   log: the target is the last LSN whose applied time is <= T. After replay
//   the store's time index must agree (Database::LsnAtTime(T) == target).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "backup/rclone.h"
#include "backup/restore.h"
#include "util/env.h"
#include "util/status.h"

namespace stemedb::backup {

struct ArchiveRestoreOptions {
  std::string remote_dir;  // REMOTE:PATH holding the base backups and wal/
  // At most one of these; neither = --latest (the end of the archive).
  std::optional<uint64_t> to_lsn;
  std::optional<int64_t> to_time_us;  // microseconds since the epoch
  RestoreTarget target;
  Env* env = Env::Default();
};

struct ArchiveRestoreResult {
  std::string base;           // REMOTE:PATH/NAME of the base backup
  uint64_t base_lsn = 0;      // its snapshot LSN
  uint64_t restored_lsn = 0;  // the store's applied LSN: the target
  size_t segments = 0;        // archived segments replayed
  RestoreOutcome outcome;
};

// Errors: NotFound (no base at or below the target, a gap in the chain, a
// target beyond the archive), Corruption (a segment or base that does not
// verify: the message names the object), Conflict (the target holds
// something else), Busy, InvalidArgument, IOError.
Result<ArchiveRestoreResult> RestoreFromArchive(Rclone& rclone,
                                                const ArchiveRestoreOptions& options);

}  // namespace stemedb::backup
