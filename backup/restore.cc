#include "backup/restore.h"

#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <filesystem>
#include <vector>

#include "backup/manifest.h"
#include "backup/sha256.h"
#include "engine/store_identity.h"
#include "util/logging.h"

namespace stemedb::backup {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr std::string_view kScratchSuffix = ".restore-tmp";
constexpr std::string_view kLockName = "LOCK";

std::string Normal(const std::string& path) {
  std::string s = fs::path(path).lexically_normal().generic_string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string BaseName(const std::string& path) { return fs::path(Normal(path)).filename(); }

// Entries of `dir` that count as content (engine/store_identity.h's rule: a
// volume root's lost+found does not); none if `dir` is missing.
Result<std::vector<std::string>> Contents(Env* env, const std::string& dir) {
  std::error_code ec;
  if (env->FileExists(dir) && !fs::is_directory(dir, ec)) {
    return Status::Conflict(dir + " exists and is not a directory");
  }
  return engine::StoreDirEntries(env, dir);
}

std::string Describe(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 3; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 3) s += ", ... (" + std::to_string(names.size()) + " entries)";
  return s;
}

// A mount point cannot be renamed over; its parent is another volume.
Result<bool> IsMountPoint(const std::string& dir) {
  struct stat self {};
  struct stat parent {};
  if (::stat(dir.c_str(), &self) != 0) {
    if (errno == ENOENT) return false;
    return Status::FromErrno("stat " + dir, errno);
  }
  const std::string up = ParentDir(Normal(dir));
  if (::stat(up.c_str(), &parent) != 0) return Status::FromErrno("stat " + up, errno);
  return self.st_dev != parent.st_dev || self.st_ino == parent.st_ino;
}

// Removes `path` and everything below it: files through the Env, each
// emptied directory with rmdir (the Env has no directory removal). The
// caller syncs the parent.
Status RemoveTree(Env* env, const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(path, ec))) {
    auto children = env->GetChildren(path);
    if (!children) return children.error();
    for (const std::string& c : *children) STEMEDB_RETURN_IF_ERROR(RemoveTree(env, path + "/" + c));
    if (!fs::remove(path, ec) && ec) return Status::FromErrno("rmdir " + path, ec.value());
    return Status::OK();
  }
  return env->RemoveFile(path);
}

Status RemoveScratch(Env* env, const std::string& scratch) {
  STEMEDB_RETURN_IF_ERROR(RemoveTree(env, scratch));
  return SyncParentDir(env, scratch);
}

// Empties a leftover scratch but keeps the directory itself, so the server
// goes on refusing the target while the retry runs.
Status EmptyScratch(Env* env, const std::string& scratch) {
  auto children = env->GetChildren(scratch);
  if (!children) return children.error();
  for (const std::string& c : *children)
    STEMEDB_RETURN_IF_ERROR(RemoveTree(env, scratch + "/" + c));
  return env->SyncDir(scratch);
}

}  // namespace

RestoreTarget RestoreTarget::InDataDir(const std::string& data_dir) {
  return {.wal_dir = (fs::path(data_dir) / kWalDir).generic_string(),
          .db_dir = (fs::path(data_dir) / kDbDir).generic_string()};
}

std::string RestoredMarker::ToJson() const {
  json::object o;
  o["backup"] = backup;
  o["sha256"] = sha256;
  o["snapshot_lsn"] = snapshot_lsn;
  o["restored_at"] = restored_at;
  return json::serialize(o) + "\n";
}

Result<RestoredMarker> RestoredMarker::Parse(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  RestoredMarker m;
  const json::string *backup = nullptr, *sha = nullptr, *at = nullptr;
  const json::value* lsn = nullptr;
  if (o) {
    if (auto* b = o->if_contains("backup")) backup = b->if_string();
    if (auto* s = o->if_contains("sha256")) sha = s->if_string();
    if (auto* t = o->if_contains("restored_at")) at = t->if_string();
    lsn = o->if_contains("snapshot_lsn");
  }
  boost::system::error_code lsn_ec;
  if (lsn) m.snapshot_lsn = lsn->to_number<uint64_t>(lsn_ec);
  if (!backup || !sha || !at || !lsn || lsn_ec || !IsSha256Hex(std::string(*sha))) {
    return Status::Corruption(std::string(kRestoredMarkerName) + ": not a restore marker");
  }
  m.backup = std::string(*backup);
  m.sha256 = std::string(*sha);
  m.restored_at = std::string(*at);
  return m;
}

std::string RestoreScratchPath(const std::string& db_dir) {
  const std::string b = Normal(db_dir);
  return (fs::path(ParentDir(b)) / ("." + BaseName(b) + std::string(kScratchSuffix)))
      .generic_string();
}

Status CheckNoInterruptedRestore(Env* env, const std::string& db_dir) {
  const std::string scratch = RestoreScratchPath(db_dir);
  if (!env->FileExists(scratch)) return Status::OK();
  return Status::Failed("STEMEDB_DB_DIR '" + db_dir +
                        "' is the target of an interrupted restore (" + scratch +
                        " exists): re-run the same `stemectl restore`, which removes it and "
                        "finishes");
}

Result<RestoreTargetInfo> InspectRestoreTarget(Env* env, const RestoreTarget& target) {
  const std::string w = Normal(target.wal_dir), b = Normal(target.db_dir);
  auto inside = [](const std::string& a, const std::string& d) {
    return a == d || a.starts_with(d == "/" ? d : d + "/");
  };
  if (w.empty() || b.empty() || inside(w, b) || inside(b, w)) {
    return Status::InvalidArgument("the WAL dir '" + target.wal_dir + "' and the DB dir '" +
                                   target.db_dir + "' must be two separate directories");
  }
  auto mount = IsMountPoint(b);
  if (!mount) return mount.error();
  if (*mount) {
    return Status::InvalidArgument(
        "the DB dir '" + target.db_dir +
        "' is a volume's mount point; restore renames a finished directory into place, so "
        "RocksDB must live one level below the volume root (k3s/base/deployment.yaml: "
        "STEMEDB_DB_DIR=/var/lib/stemedb/db/rocksdb)");
  }
  auto wal = Contents(env, w);
  if (!wal) return wal.error().WithContext("WAL dir " + target.wal_dir);
  auto db = Contents(env, b);
  if (!db) return db.error().WithContext("DB dir " + target.db_dir);
  if (!wal->empty()) {
    return Status::Conflict("the WAL dir " + target.wal_dir + " is not empty (" + Describe(*wal) +
                            "); restore only into empty directories");
  }
  RestoreTargetInfo info;
  if (env->FileExists(RestoreScratchPath(b))) {
    // The rename never happened, so B is as the interrupted run found it:
    // empty. Anything in it now was put there by someone else.
    if (!db->empty()) {
      return Status::Conflict("the DB dir " + target.db_dir + " is not empty (" + Describe(*db) +
                              ") and an interrupted restore is beside it (" +
                              RestoreScratchPath(b) + ")");
    }
    info.state = RestoreTargetState::kInterrupted;
    return info;
  }
  if (db->empty()) return info;
  const std::string marker_path = b + "/" + std::string(kRestoredMarkerName);
  if (env->FileExists(marker_path)) {
    auto text = ReadFileToString(env, marker_path);
    if (!text) return text.error();
    auto marker = RestoredMarker::Parse(*text);
    if (!marker) {
      // The target, not the backup, is in question: "not empty", not exit 5.
      return Status::Conflict("the DB dir " + target.db_dir + " is not empty and its " +
                              marker_path + " is unreadable (" + marker.error().message() + ")");
    }
    info.state = RestoreTargetState::kRestored;
    info.marker = std::move(*marker);
    return info;
  }
  return Status::Conflict("the DB dir " + target.db_dir + " is not empty (" + Describe(*db) +
                          "); restore only into empty directories");
}

Result<RestoreOutcome> RestoreSnapshot(const RestoreRequest& request, const ArchiveFetcher& fetch) {
  Env* env = request.env;
  const RestoreTarget& target = request.target;
  const std::string b = Normal(target.db_dir);
  const std::string parent = ParentDir(b);
  const std::string scratch = RestoreScratchPath(b);

  // Refuse a bad target before writing anything, then again under the lock
  // (the first look was unlocked).
  if (auto first = InspectRestoreTarget(env, target); !first) return first.error();
  STEMEDB_RETURN_IF_ERROR(env->CreateDirs(parent));
  auto lock = env->LockFile(parent + "/" + std::string(kLockName));
  if (!lock) {
    if (lock.error().code() == Status::Code::kBusy) {
      return Status::Busy(parent + "/LOCK is held: a server or another restore is using " + parent);
    }
    return lock.error();
  }
  auto info = InspectRestoreTarget(env, target);
  if (!info) return info.error();

  RestoreOutcome out;
  if (info->state == RestoreTargetState::kRestored) {
    const RestoredMarker& m = *info->marker;
    if (m.backup == request.backup && m.sha256 == request.expected_sha256) {
      out.already_restored = true;
      out.marker = m;
      return out;
    }
    return Status::Conflict("the DB dir " + target.db_dir + " holds another restored backup (" +
                            m.backup + ", sha256 " + m.sha256 + ")");
  }
  if (info->state == RestoreTargetState::kInterrupted) {
    log::Warn("restore: removing the leftovers of an interrupted restore", {{"dir", scratch}});
    STEMEDB_RETURN_IF_ERROR(EmptyScratch(env, scratch).WithContext("emptying " + scratch));
    out.removed_leftover = true;
  }

  // The scratch first: from its creation on, the server refuses this target
  // (before it, nothing but the lock file and empty directories exist).
  STEMEDB_RETURN_IF_ERROR(env->CreateDirs(scratch));
  STEMEDB_RETURN_IF_ERROR(env->CreateDirs(target.wal_dir));
  ArchiveSummary summary;
  Status s = fetch([&](const ArchiveSource& source) -> Status {
    ArchiveReadOptions read;
    read.unpack_dir = scratch;
    read.unpack_subdir = std::string(kDbDir);
    read.expected_sha256 = request.expected_sha256;
    read.env = env;
    auto r = ReadSnapshotArchive(source, read);
    if (!r) return r.error();
    summary = std::move(*r);
    return Status::OK();
  });
  if (s.ok()) {
    out.marker = {.backup = request.backup,
                  .sha256 = summary.archive_sha256,
                  .snapshot_lsn = summary.manifest.snapshot_lsn,
                  .restored_at = NowRfc3339()};
    if (request.before_commit) s = request.before_commit(scratch, &out.marker);
  }
  if (s.ok()) {
    s = WriteFileAtomically(env, scratch + "/" + std::string(kRestoredMarkerName),
                            out.marker.ToJson());
  }
  // The commit: B is missing or empty (checked under the lock), which
  // rename(2) replaces in one step.
  if (s.ok()) s = env->RenameFile(scratch, b);
  if (!s.ok()) {
    // rclone may fail after a clean unpack (its exit status comes last):
    // all or nothing.
    RemoveScratch(env, scratch).IgnoreError("a retry removes what is left");
    return s;
  }
  STEMEDB_RETURN_IF_ERROR(env->SyncDir(parent));
  out.summary = std::move(summary);
  return out;
}

}  // namespace stemedb::backup
