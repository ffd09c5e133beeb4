// Env: the filesystem seam between StemeDB's own on-disk code (wal/, the data
// directory lock, root.key, backups) and the OS.
//
// Shaped after leveldb::Env, at LevelDB's size rather than RocksDB's. The
// production implementation (Env::Default(), util/env_posix.cc) is a thin
// layer over POSIX. Tests subclass EnvWrapper and override one method to
// produce what a real disk will not do on demand: EIO from fdatasync, ENOSPC
// or a short write mid-append, or "drop everything not synced" (power loss).
// RocksDB's files do not go through this seam: RocksDB has its own Env.
//
// All methods return Status; none throw. Paths are plain std::string.
// Thread-safety: an Env is safe for concurrent use; a single file object is
// not (its owner serializes calls).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace stemedb {

// A file written sequentially. Append() may buffer in user space; Flush()
// hands buffered bytes to the OS; Sync() makes everything appended so far
// durable (fdatasync). Close() flushes but does not sync.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  virtual Status Flush() = 0;
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
  // Bytes appended since open (including any existing size when reopened).
  virtual uint64_t Size() const = 0;
  // Discards everything at and after `size` (buffered or written) and
  // continues appending there; shrinking a file needs no free space, so this
  // undoes an Append that failed with ENOSPC or wrote short. REQUIRES:
  // size <= Size(). Default: IOError (not supported).
  virtual Status Truncate(uint64_t size) {
    (void)size;
    return Status::IOError("truncate is not supported by this file");
  }
};

// A file read sequentially from the start (or after Skip()).
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to n bytes into scratch; *result points at what was read (may be
  // shorter than n only at end of file). An empty result means EOF.
  virtual Status Read(size_t n, std::string_view* result, char* scratch) = 0;
  virtual Status Skip(uint64_t n) = 0;
};

// Held while a process owns a directory; released by Env::UnlockFile.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX Env. Never deleted.
  static Env* Default();

  // Creates (truncating) a file for writing.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens an existing file for writing at byte `offset` (later bytes are kept
  // on disk until overwritten; WAL segments are preallocated with zeros).
  virtual Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path,
                                                                   uint64_t offset) = 0;
  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;

  virtual bool FileExists(const std::string& path) = 0;
  virtual Result<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  virtual Result<uint64_t> GetFileSize(const std::string& path) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual Status TruncateFile(const std::string& path, uint64_t size) = 0;
  // mkdir(2) of one directory (its parent must exist). Returns true if it
  // made the directory, false if a directory of that name already existed;
  // IOError if the name exists as something else. Not durable by itself:
  // the new entry is durable once its parent is synced (CreateDirs does).
  virtual Result<bool> CreateDir(const std::string& dir) = 0;
  // mkdir -p, durably: OK if `dir` already exists as a directory. Every
  // directory it creates is durable on return: after the mkdirs, the parent
  // of each newly created level is fsynced, deepest first, so once an upper
  // entry is durable everything below it already is (a power loss can drop
  // an un-fsynced mkdir, and with it every file later synced inside it). A
  // directory that already existed is left as durable as whoever made it
  // left it. Built on CreateDir and SyncDir, so every Env (and the power-loss
  // model of util/fault_injection_env.h) sees each step; not virtual.
  Status CreateDirs(const std::string& dir);
  // fsync(2) on the directory, so created/renamed/removed entries are durable.
  // Whoever creates, renames or removes a file that matters syncs its parent
  // (docs/architecture.md "Durability of directory entries").
  virtual Status SyncDir(const std::string& dir) = 0;

  // Takes an exclusive advisory lock (flock) on `path`, creating it if needed
  // (a newly created lock file's entry is synced). Busy if another process
  // holds it.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;
  // Free bytes available to an unprivileged user on the volume holding `path`.
  virtual Result<uint64_t> GetFreeSpace(const std::string& path) = 0;
  // chmod(2).
  virtual Status SetPermissions(const std::string& path, uint32_t mode) = 0;
};

// Forwards every call to a target Env; tests override just what they break.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    return target_->NewWritableFile(p);
  }
  Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& p,
                                                           uint64_t off) override {
    return target_->ReopenWritableFile(p, off);
  }
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& p) override {
    return target_->NewSequentialFile(p);
  }
  bool FileExists(const std::string& p) override { return target_->FileExists(p); }
  Result<std::vector<std::string>> GetChildren(const std::string& d) override {
    return target_->GetChildren(d);
  }
  Result<uint64_t> GetFileSize(const std::string& p) override { return target_->GetFileSize(p); }
  Status RemoveFile(const std::string& p) override { return target_->RemoveFile(p); }
  Status RenameFile(const std::string& f, const std::string& t) override {
    return target_->RenameFile(f, t);
  }
  Status TruncateFile(const std::string& p, uint64_t s) override {
    return target_->TruncateFile(p, s);
  }
  Result<bool> CreateDir(const std::string& d) override { return target_->CreateDir(d); }
  Status SyncDir(const std::string& d) override { return target_->SyncDir(d); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& p) override {
    return target_->LockFile(p);
  }
  Result<uint64_t> GetFreeSpace(const std::string& p) override { return target_->GetFreeSpace(p); }
  Status SetPermissions(const std::string& p, uint32_t mode) override {
    return target_->SetPermissions(p, mode);
  }

 private:
  Env* target_;
};

// Writes `data` to `path` atomically and durably: tmp file, write, fsync,
// rename, fsync directory. The file gets `mode` before any byte is written
// (root.key is 0600 from its first byte). Used for root.key, manifests, markers.
Status WriteFileAtomically(Env* env, const std::string& path, std::string_view data,
                           uint32_t mode = 0644);
// Reads a whole (small) file.
Result<std::string> ReadFileToString(Env* env, const std::string& path);

// The directory holding `path` ("." for a bare name, "/" for a top-level
// one); trailing slashes of `path` are ignored.
std::string ParentDir(const std::string& path);
// env->SyncDir(ParentDir(path)): makes the creation, rename or removal of
// `path` itself durable.
Status SyncParentDir(Env* env, const std::string& path);

}  // namespace stemedb
