// Rclone: the driver for rclone, run as a child process (docs/backup.md: rclone is
// never linked). Every remote path is "REMOTE:PATH" exactly as rclone takes
// it; rclone finds its configuration itself (RCLONE_CONFIG, or
// RCLONE_CONFIG_<REMOTE>_* variables, inherited from our environment).
//
// Each call runs one rclone command. On failure the Status message names the
// command and carries rclone's own stderr (its last lines), which is what an
// operator needs to fix credentials or paths. Errors: IOError for a failed
// command, NotFound where rclone reports a missing object or directory.
//
// Thread-safety: an Rclone holds only options; calls may run concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backup/archive_reader.h"
#include "util/status.h"

namespace stemedb::backup {

struct RcloneOptions {
  // The rclone executable (PATH lookup). Default "rclone".
  std::string binary = "rclone";
  // Added to every command (e.g. {"--config", "/etc/rclone.conf"}).
  std::vector<std::string> extra_args;
};

// Writes bytes into an upload; returns non-OK if the upload broke.
using ChunkSink = std::function<Status(std::string_view)>;

class Rclone {
 public:
  explicit Rclone(RcloneOptions options = {});

  // `rclone rcat remote`, stdin fed by `producer` through the sink it is
  // given. If the producer fails, rclone is killed before it can finish the
  // object, and the producer's Status is returned; the caller deletes
  // whatever partial object may exist.
  Status Rcat(const std::string& remote, const std::function<Status(const ChunkSink&)>& producer);
  Status RcatString(const std::string& remote, std::string_view data);

  // `rclone cat remote`, stdout handed to `consumer` as a pull source. If
  // rclone fails on its own, its error is returned (not the consumer's
  // complaint about a short stream); else the consumer's Status.
  Status Cat(const std::string& remote,
             const std::function<Status(const ArchiveSource&)>& consumer);
  // Small objects (sidecars). IOError if larger than `max_bytes`.
  Result<std::string> CatString(const std::string& remote, size_t max_bytes = 1 << 20);

  Status MoveTo(const std::string& from, const std::string& to);
  Status DeleteFile(const std::string& remote);
  // File names (not directories) directly in `remote_dir`. A missing
  // directory lists as empty (a first backup into a fresh bucket path).
  Result<std::vector<std::string>> ListFiles(const std::string& remote_dir);

 private:
  std::vector<std::string> Argv(std::initializer_list<std::string> args) const;
  // Runs to completion, stdout captured; IOError with stderr if exit != 0.
  Result<std::string> Run(std::initializer_list<std::string> args);

  RcloneOptions options_;
};

// "remote:dir" + "name" -> "remote:dir/name" ("remote:" + "n" -> "remote:n").
std::string JoinRemote(const std::string& dir, const std::string& name);
// "remote:dir/name" -> {"remote:dir", "name"}; name empty if none.
std::pair<std::string, std::string> SplitRemote(const std::string& path);

}  // namespace stemedb::backup
