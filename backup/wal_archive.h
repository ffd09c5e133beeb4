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
//   wal/<first>-<last>-<epoch>.wal  a segment written by writer epoch > 1
//                                   (16 hex digits; epoch 1 keeps the name
//                                   above), with its .sha256 and .partial
//   epoch/<epoch>                   "stemedb-writer-epoch 1\nepoch N\n
//                                   first_lsn L\n": writer epoch N (16 hex
//                                   digits in the name) owns the archive from
//                                   LSN L on. Written by a promotion
//                                   (docs/backup.md "Warm standby"); no
//                                   object = epoch 1 from LSN 1.
// An object carries its final name only once the remote's copy was read back
// and matched, and after its sidecar exists (upload order: .partial, read
// back, sidecar, rename).
//
// THE EPOCH CHAIN (fencing: never two writers). Epoch N's segments count
// only from its first LSN up to the next epoch's first LSN minus one; a
// segment of a fenced-off writer past that point is ignored by every
// reader (ListArchivedSegments), and a writer whose epoch is below the
// highest one refuses to upload (backup/wal_archiver.h).
//
// Thread-safety: free functions; an Rclone may be shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
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

// The epochs' directory below REMOTE:PATH.
inline constexpr std::string_view kWriterEpochDir = "epoch";

struct ArchivedSegment {
  std::string name;  // <first>-<last>.wal or <first>-<last>-<epoch>.wal
  uint64_t first_lsn = 0;
  uint64_t last_lsn = 0;
  uint64_t epoch = 1;  // the writer epoch that uploaded it
};

std::string ArchivedSegmentName(uint64_t first_lsn, uint64_t last_lsn, uint64_t epoch = 1);
// nullopt unless `name` is exactly a segment object name with first <= last
// (and, if named, epoch >= 2).
std::optional<ArchivedSegment> ParseArchivedSegmentName(std::string_view name);

// REMOTE:PATH -> REMOTE:PATH/wal.
std::string WalArchiveRemote(const std::string& remote_dir);

// One link of the epoch chain.
struct WriterEpoch {
  uint64_t epoch = 1;
  uint64_t first_lsn = 1;
};
std::string EncodeWriterEpoch(const WriterEpoch& e);
Result<WriterEpoch> DecodeWriterEpoch(std::string_view text);

// The highest epoch named in REMOTE:PATH/epoch (1 if none): one listing,
// the archiver's fencing check before every upload.
Result<uint64_t> HighestWriterEpoch(Rclone& rclone, const std::string& remote_dir);
// The whole chain, by epoch, epoch 1 from LSN 1 first. Corruption if an
// object does not parse, disagrees with its name, or starts below the
// epoch before it.
Result<std::vector<WriterEpoch>> ListWriterEpochs(Rclone& rclone, const std::string& remote_dir);
// Writes epoch/<epoch> (.partial, read back, rename). Conflict if that
// epoch exists already (another promotion won; nothing is written then).
Status WriteWriterEpoch(Rclone& rclone, const std::string& remote_dir, const WriterEpoch& e);

// The complete segment objects in REMOTE:PATH/wal that belong to the epoch
// chain (ListWriterEpochs; a fenced-off writer's segments past the next
// epoch's first LSN are dropped), by first LSN. A missing directory is an
// empty archive. Of two objects with the same first LSN the longer one
// supersedes the other (it is the same segment, extended: after a crash
// right after a seal the WAL may reopen that segment and append to it), so
// only the longer one is listed.
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

// FetchArchivedSegment, then reads it: the header (first LSN as named, and
// its previous segment ending at `prev_last_lsn` unless that is 0), every
// record's CRC, and records up to the named last LSN, calling
// fn(lsn, payload) for each in order: true reads on, false stops before this
// record, an error stops and is returned. Returns the offset where the
// record it stopped before starts, or nullopt if it read exactly up to the
// named last LSN. Corruption naming the object otherwise (a record past the
// named last LSN included). `local_path` is left for the caller (a
// restore cuts it at the returned offset).
Result<std::optional<uint64_t>> ScanArchivedSegment(
    Rclone& rclone, Env* env, const std::string& remote_dir, const ArchivedSegment& segment,
    const std::string& local_path, uint64_t prev_last_lsn,
    const std::function<Result<bool>(uint64_t lsn, std::string_view payload)>& fn);

// ScanArchivedSegment that reads every record up to the named last LSN. Used
// by the warm standby (backup/wal_follower.h).
Status ReadArchivedSegment(Rclone& rclone, Env* env, const std::string& remote_dir,
                           const ArchivedSegment& segment, const std::string& local_path,
                           uint64_t prev_last_lsn,
                           const std::function<Status(uint64_t lsn, std::string_view payload)>& fn);

}  // namespace stemedb::backup
