#include "backup/snapshot_archive.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "backup/archive_writer.h"
#include "util/env.h"
#include "util/logging.h"

namespace stemedb::backup {

namespace {

std::atomic<uint64_t> g_checkpoint_seq{0};

// Removes the checkpoint directory however the archive ends: a leftover one
// would pin SST hard links (and disk space) that compaction has dropped.
class ScopedDir {
 public:
  explicit ScopedDir(std::string path) : path_(std::move(path)) {}
  ~ScopedDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    if (ec) {
      log::Warn("backup: cannot remove checkpoint", {{"dir", path_}, {"error", ec.message()}});
      return;
    }
    // A removal not synced can be undone by a power loss, bringing back a
    // name no later backup reuses and pinning its SSTs for good.
    SyncParentDir(Env::Default(), path_)
        .IgnoreError("removal is best effort; the backup's outcome is already decided");
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

Result<SnapshotInfo> WriteSnapshotArchive(engine::Database& db, const SnapshotOptions& options,
                                          const std::function<Status(std::string_view)>& sink) {
  if (options.scratch_dir.empty()) return Status::InvalidArgument("backup: scratch_dir required");
  STEMEDB_RETURN_IF_ERROR(Env::Default()->CreateDirs(options.scratch_dir));
  std::string dir = options.scratch_dir + "/backup-" + std::to_string(::getpid()) + "-" +
                    std::to_string(g_checkpoint_seq.fetch_add(1));
  // A directory left by a crashed earlier process with the same pid would
  // make CreateCheckpoint fail ("must not exist"); it is garbage by now.
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  ScopedDir guard(dir);

  auto lsn = db.CreateCheckpoint(dir);
  if (!lsn) return lsn.error().WithContext("backup: checkpoint");
  log::Info("backup: checkpoint taken",
            {{"dir", dir}, {"snapshot_lsn", std::to_string(lsn->value())}});
  auto info = WriteCheckpointArchive(dir, lsn->value(), options.server_version, sink);
  if (!info) return info.error().WithContext("backup: archive");
  log::Info("backup: archive streamed", {{"snapshot_lsn", std::to_string(info->snapshot_lsn)},
                                         {"files", std::to_string(info->files)},
                                         {"bytes", std::to_string(info->bytes)}});
  return info;
}

}  // namespace stemedb::backup
