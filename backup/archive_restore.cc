#include "backup/archive_restore.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <vector>

#include "backup/remote_backup.h"
#include "backup/wal_archive.h"
#include "engine/database.h"
#include "engine/log_entry.h"
#include "util/logging.h"
#include "util/time_format.h"
#include "wal/log_format.h"
#include "wal/log_reader.h"
#include "wal/segment_scan.h"

namespace stemedb::backup {

namespace {

// Where the fetched segments live while they are replayed: inside the
// scratch directory, so they vanish with it on any failure.
constexpr std::string_view kReplayWalDir = ".archive-wal";

std::string TrimDir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/' && dir[dir.size() - 2] != ':') dir.pop_back();
  return dir;
}

struct Chain {
  std::vector<ArchivedSegment> segments;
  uint64_t reached = 0;  // last LSN the chain holds (base LSN if none)
  // Set if the archive holds segments after a missing LSN past `reached`.
  std::optional<ArchivedSegment> after_gap;
};

// The segments holding base_lsn + 1 .. `until` (or as far as they go), each
// starting right after the previous one.
Chain BuildChain(const std::vector<ArchivedSegment>& archive, uint64_t base_lsn,
                 std::optional<uint64_t> until) {
  Chain chain;
  uint64_t next = base_lsn + 1;
  while (!until || next <= *until) {
    const ArchivedSegment* found = nullptr;
    for (const ArchivedSegment& s : archive) {
      // Only the first may start below `next`: it holds the snapshot LSN too.
      const bool fits =
          chain.segments.empty() ? s.first_lsn <= next && next <= s.last_lsn : s.first_lsn == next;
      if (fits && (found == nullptr || s.last_lsn > found->last_lsn)) found = &s;
    }
    if (found == nullptr) break;
    chain.segments.push_back(*found);
    next = found->last_lsn + 1;
  }
  chain.reached = next - 1;
  for (const ArchivedSegment& s : archive) {
    if (s.first_lsn > next && (!chain.after_gap || s.first_lsn < chain.after_gap->first_lsn)) {
      chain.after_gap = s;
    }
  }
  return chain;
}

Status GapError(const std::string& remote_dir, const Chain& chain) {
  const uint64_t missing = chain.reached + 1;
  std::string msg = "the archive " + WalArchiveRemote(remote_dir) + " has no segment holding lsn " +
                    std::to_string(missing);
  if (chain.after_gap) {
    msg += " (a gap: the next archived segment is " + chain.after_gap->name + "); restore up to " +
           "--to-lsn " + std::to_string(chain.reached) + ", or from a base backup taken after it";
  } else {
    msg += ": the archive ends at lsn " + std::to_string(chain.reached);
  }
  return Status::NotFound(msg);
}

std::string ObjectOf(const std::string& remote_dir, const ArchivedSegment& s) {
  return JoinRemote(WalArchiveRemote(remote_dir), s.name);
}

// One attempt: base `base`, segments `chain`, target LSN `target` (or a time).
struct Attempt {
  const ArchiveRestoreOptions* options;
  BackupName base;
  Chain chain;
  std::optional<uint64_t> target;  // unset in time mode: found while scanning
  bool overshoot = false;          // time mode: the base holds a record after the time
  uint64_t reached = 0;
  size_t used = 0;
};

// Fetches, checks and cuts the chain into `wal_dir`; sets attempt->reached.
Status FetchChain(Rclone& rclone, Env* env, const std::string& wal_dir, Attempt* a) {
  const ArchiveRestoreOptions& o = *a->options;
  const uint64_t target = a->target.value_or(std::numeric_limits<uint64_t>::max());
  const int64_t time = o.to_time_us.value_or(0);
  int64_t running = std::numeric_limits<int64_t>::min();
  uint64_t reached = a->base.lsn;
  uint64_t prev_last = 0;
  for (const ArchivedSegment& seg : a->chain.segments) {
    const std::string object = ObjectOf(o.remote_dir, seg);
    const std::string local = wal::JoinPath(wal_dir, wal::SegmentFileName(seg.first_lsn));
    auto cut = ScanArchivedSegment(
        rclone, env, o.remote_dir, seg, local, prev_last,
        [&](uint64_t lsn, std::string_view payload) -> Result<bool> {
          if (lsn > target) return false;
          if (o.to_time_us) {
            auto entry = engine::DecodeWalEntry(payload);
            if (!entry) return entry.error().WithContext(object + " lsn " + std::to_string(lsn));
            running = std::max(running, entry->recorded_at_us);
            if (running > time) {
              if (lsn <= a->base.lsn) {
                a->overshoot = true;
                return Status::Conflict("the base backup holds records after the time");
              }
              return false;
            }
          }
          reached = std::max(reached, lsn);
          return true;
        });
    if (!cut) return cut.error();
    ++a->used;
    if (*cut) {
      if (**cut <= wal::kSegmentHeaderSize) {
        STEMEDB_RETURN_IF_ERROR(env->RemoveFile(local));
        --a->used;
      } else {
        STEMEDB_RETURN_IF_ERROR(env->TruncateFile(local, **cut));
      }
      break;
    }
    prev_last = seg.last_lsn;
  }
  if (o.to_time_us && reached == a->chain.reached && a->chain.after_gap) {
    // Every record up to the gap is at or before the time: what follows the
    // gap may be too, and cannot be reached.
    return GapError(o.remote_dir, a->chain);
  }
  a->reached = reached;
  return Status::OK();
}

// RestoreRequest::before_commit: replays the chain into the unpacked base.
Status Replay(Rclone& rclone, Env* env, const std::string& scratch, RestoredMarker* marker,
              Attempt* a) {
  const std::string wal_dir = scratch + "/" + std::string(kReplayWalDir);
  STEMEDB_RETURN_IF_ERROR(env->CreateDirs(wal_dir));
  STEMEDB_RETURN_IF_ERROR(FetchChain(rclone, env, wal_dir, a));
  engine::DatabaseOptions options;
  options.db_dir = scratch;
  options.create_if_missing = false;
  options.wal.dir = wal_dir;
  options.wal.preallocate_next_segment = false;
  options.wal.env = env;
  auto db = engine::Database::Open(options, nullptr);
  if (!db) return db.error().WithContext("replaying the archived segments");
  Status s;
  if ((*db)->applied_lsn().value() != a->reached) {
    s = Status::Corruption("after replay the store is at lsn " +
                           std::to_string((*db)->applied_lsn().value()) + ", expected " +
                           std::to_string(a->reached));
  }
  if (s.ok() && a->options->to_time_us) {
    auto at = (*db)->LsnAtTime(*a->options->to_time_us);
    if (!at) {
      s = at.error();
    } else if (at->value() < a->base.lsn) {
      a->overshoot = true;
      s = Status::Conflict("the base backup holds records after the time");
    } else if (at->value() != a->reached && a->reached != 0) {
      s = Status::Corruption("the time index puts the time at lsn " + std::to_string(at->value()) +
                             ", the archive at " + std::to_string(a->reached));
    }
  }
  Status c = (*db)->Close();
  if (s.ok()) s = c;
  if (!s.ok()) return s;
  std::error_code ec;
  std::filesystem::remove_all(wal_dir, ec);
  if (ec) return Status::FromErrno("removing " + wal_dir, ec.value());
  STEMEDB_RETURN_IF_ERROR(env->SyncDir(scratch));
  marker->snapshot_lsn = a->reached;
  return Status::OK();
}

}  // namespace

Result<ArchiveRestoreResult> RestoreFromArchive(Rclone& rclone,
                                                const ArchiveRestoreOptions& options) {
  if (options.remote_dir.empty()) return Status::InvalidArgument("--remote-dir is required");
  if (options.to_lsn && options.to_time_us) {
    return Status::InvalidArgument("restore to an LSN or to a time, not both");
  }
  const std::string dir = TrimDir(options.remote_dir);
  ArchiveRestoreOptions o = options;
  o.remote_dir = dir;

  // A retry of a finished restore (the server has not started on it) is done.
  auto state = InspectRestoreTarget(o.env, o.target);
  if (!state) return state.error();
  if (state->state == RestoreTargetState::kRestored) {
    const RestoredMarker& m = *state->marker;
    if (SplitRemote(m.backup).first == dir && (!o.to_lsn || m.snapshot_lsn == *o.to_lsn)) {
      ArchiveRestoreResult result;
      result.base = m.backup;
      result.restored_lsn = m.snapshot_lsn;
      result.outcome.already_restored = true;
      result.outcome.marker = m;
      return result;
    }
    return Status::Conflict("the DB dir " + o.target.db_dir + " holds another restore (" +
                            m.backup + " at lsn " + std::to_string(m.snapshot_lsn) + ")");
  }

  auto bases = ListBackups(rclone, dir);
  if (!bases) return bases.error().WithContext("listing " + dir);
  auto archive = ListArchivedSegments(rclone, dir);
  if (!archive) return archive.error().WithContext("listing " + WalArchiveRemote(dir));

  // Candidate bases, best first.
  std::vector<BackupName> candidates;
  for (const BackupName& b : *bases) {
    if (o.to_lsn && b.lsn > *o.to_lsn) continue;
    if (o.to_time_us && b.unix_seconds * 1000000 > *o.to_time_us) continue;
    candidates.push_back(b);
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const BackupName& a, const BackupName& b) { return a.lsn > b.lsn; });
  if (candidates.empty()) {
    std::string what = o.to_lsn       ? " at or below lsn " + std::to_string(*o.to_lsn)
                       : o.to_time_us ? " taken at or before " + FormatRfc3339(*o.to_time_us)
                                      : "";
    return Status::NotFound("no complete base backup" + what + " in " + dir +
                            " (continuous archiving replays from one: stemectl backup)");
  }
  // Without a time, only the newest candidate can be right: an older base
  // must cover the same LSNs of the archive.
  if (!o.to_time_us) candidates.resize(1);

  for (const BackupName& base : candidates) {
    Attempt a;
    a.options = &o;
    a.base = base;
    a.chain = BuildChain(*archive, base.lsn, o.to_lsn);
    if (o.to_lsn) {
      if (a.chain.reached < *o.to_lsn) return GapError(dir, a.chain);
      a.target = *o.to_lsn;
    } else if (!o.to_time_us) {
      if (a.chain.after_gap) return GapError(dir, a.chain);
      a.target = a.chain.reached;
    }
    const std::string base_remote = JoinRemote(dir, base.name);
    auto digest = rclone.CatString(base_remote + ".sha256", 4096);
    if (!digest) return digest.error().WithContext("checksum sidecar of " + base_remote);
    auto sha = ParseSha256Sidecar(*digest, base.name);
    if (!sha) return sha.error();
    RestoreRequest request;
    request.target = o.target;
    request.backup = base_remote;
    request.expected_sha256 = *sha;
    request.env = o.env;
    // Nothing to replay (no archive after the base): a plain restore of it.
    if (!a.chain.segments.empty() || o.to_time_us) {
      request.before_commit = [&](const std::string& scratch, RestoredMarker* marker) {
        return Replay(rclone, o.env, scratch, marker, &a);
      };
    }
    auto outcome = RestoreSnapshot(
        request, [&](const auto& consumer) { return rclone.Cat(base_remote, consumer); });
    if (!outcome) {
      if (a.overshoot) {
        log::Info("restore: the base holds records after the time; trying an older one",
                  {{"base", base_remote}});
        continue;
      }
      return outcome.error();
    }
    ArchiveRestoreResult result;
    result.base = base_remote;
    result.base_lsn = base.lsn;
    result.restored_lsn = outcome->marker.snapshot_lsn;
    result.segments = a.used;
    result.outcome = std::move(*outcome);
    return result;
  }
  return Status::NotFound("every base backup in " + dir + " taken before " +
                          FormatRfc3339(*o.to_time_us) + " holds records recorded after it");
}

}  // namespace stemedb::backup
