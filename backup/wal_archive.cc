#include "backup/wal_archive.h"

#include <algorithm>

#include "backup/remote_backup.h"
#include "backup/sha256.h"
#include "util/hex.h"
#include "wal/log_format.h"

namespace stemedb::backup {

namespace {

constexpr std::string_view kSegmentSuffix = ".wal";

std::string Hex16(uint64_t lsn) {
  // wal/log_format.h owns the 16-digit form of an LSN in a segment name.
  return wal::SegmentFileName(lsn).substr(0, kHex64Digits);
}

}  // namespace

std::string ArchivedSegmentName(uint64_t first_lsn, uint64_t last_lsn) {
  return Hex16(first_lsn) + "-" + Hex16(last_lsn) + std::string(kSegmentSuffix);
}

std::optional<ArchivedSegment> ParseArchivedSegmentName(std::string_view name) {
  if (name.size() != 2 * kHex64Digits + 1 + kSegmentSuffix.size() ||
      !name.ends_with(kSegmentSuffix) || name[kHex64Digits] != '-') {
    return std::nullopt;
  }
  ArchivedSegment out;
  if (!ParseHex64(name.substr(0, kHex64Digits), &out.first_lsn) ||
      !ParseHex64(name.substr(kHex64Digits + 1, kHex64Digits), &out.last_lsn) ||
      out.first_lsn == 0 || out.last_lsn < out.first_lsn) {
    return std::nullopt;
  }
  out.name = std::string(name);
  return out;
}

std::string WalArchiveRemote(const std::string& remote_dir) {
  return JoinRemote(remote_dir, std::string(kWalArchiveDir));
}

Result<std::vector<ArchivedSegment>> ListArchivedSegments(Rclone& rclone,
                                                          const std::string& remote_dir) {
  auto files = rclone.ListFiles(WalArchiveRemote(remote_dir));
  if (!files) return files.error();
  std::vector<ArchivedSegment> out;
  for (const std::string& f : *files) {
    if (auto parsed = ParseArchivedSegmentName(f)) out.push_back(std::move(*parsed));
  }
  std::sort(out.begin(), out.end(), [](const ArchivedSegment& a, const ArchivedSegment& b) {
    return std::tie(a.first_lsn, a.last_lsn) < std::tie(b.first_lsn, b.last_lsn);
  });
  std::vector<ArchivedSegment> longest;
  for (ArchivedSegment& a : out) {
    if (!longest.empty() && longest.back().first_lsn == a.first_lsn) longest.pop_back();
    longest.push_back(std::move(a));
  }
  return longest;
}

Result<PruneResult> PruneArchive(Rclone& rclone, const std::string& remote_dir,
                                 std::chrono::system_clock::time_point cutoff) {
  auto bases = ListBackups(rclone, remote_dir);  // oldest first
  if (!bases) return bases.error();
  if (bases->empty()) {
    return Status::NotFound("no base backup in " + remote_dir +
                            ": the archive is all there is, nothing is pruned");
  }
  const int64_t cutoff_s =
      std::chrono::duration_cast<std::chrono::seconds>(cutoff.time_since_epoch()).count();
  const BackupName* floor = &bases->front();
  for (const BackupName& b : *bases) {
    if (b.unix_seconds <= cutoff_s && b.lsn >= floor->lsn) floor = &b;
  }
  PruneResult result;
  result.floor_lsn = floor->lsn;
  result.floor_base = floor->name;
  // Every file by its own name: superseded objects are not in
  // ListArchivedSegments, and a sidecar or .partial left by an interrupted
  // run must go too once below the floor.
  const std::string dir = WalArchiveRemote(remote_dir);
  auto files = rclone.ListFiles(dir);
  if (!files) return files.error();
  std::vector<std::string> objects, others;
  for (const std::string& f : *files) {
    std::string_view name(f);
    const bool extra = name.ends_with(".sha256") || name.ends_with(".partial");
    if (extra) name = name.substr(0, name.rfind('.'));
    auto seg = ParseArchivedSegmentName(name);
    if (!seg || seg->last_lsn > result.floor_lsn) continue;
    (extra ? others : objects).push_back(f);
  }
  std::sort(objects.begin(), objects.end());
  std::sort(others.begin(), others.end());
  // Objects first: a sidecar without its object is inert, and a retry
  // finds it here again.
  for (const std::string& f : objects) {
    STEMEDB_RETURN_IF_ERROR(rclone.DeleteFile(JoinRemote(dir, f)));
    result.deleted.push_back(f);
  }
  for (const std::string& f : others)
    STEMEDB_RETURN_IF_ERROR(rclone.DeleteFile(JoinRemote(dir, f)));
  return result;
}

Status FetchArchivedSegment(Rclone& rclone, Env* env, const std::string& remote_dir,
                            const ArchivedSegment& segment, const std::string& local_path) {
  const std::string object = JoinRemote(WalArchiveRemote(remote_dir), segment.name);
  auto sidecar = rclone.CatString(object + ".sha256", 4096);
  if (!sidecar) {
    // An archived name without its sidecar was not put there by the archiver.
    if (sidecar.error().message().find("not found") != std::string::npos) {
      return Status::Corruption(object + ": its checksum sidecar is missing");
    }
    return sidecar.error().WithContext("checksum sidecar of " + object);
  }
  auto expected = ParseSha256Sidecar(*sidecar, segment.name);
  if (!expected) return expected.error().WithContext(object);
  auto file = env->NewWritableFile(local_path);
  if (!file) return file.error();
  Sha256 hash;
  Status s = rclone.Cat(object, [&](const ArchiveSource& source) -> Status {
    std::string buf(1 << 20, '\0');
    for (;;) {
      auto n = source(buf.data(), buf.size());
      if (!n) return n.error();
      if (*n == 0) return Status::OK();
      std::string_view chunk(buf.data(), *n);
      hash.Update(chunk);
      STEMEDB_RETURN_IF_ERROR((*file)->Append(chunk));
    }
  });
  if (s.ok()) s = (*file)->Sync();
  Status c = (*file)->Close();
  if (s.ok()) s = c;
  if (!s.ok()) return s.WithContext("fetching " + object);
  const std::string actual = hash.FinalHex();
  if (actual != *expected) {
    return Status::Corruption(object + ": SHA-256 " + actual + " does not match its sidecar (" +
                              *expected + ")");
  }
  return Status::OK();
}

}  // namespace stemedb::backup
