// FaultInjectionEnv: an EnvWrapper that produces, on demand, what a real disk
// will not: EIO from fdatasync, ENOSPC or a short write mid-append, a failing
// directory fsync, and power loss (LevelDB's db/fault_injection_test.cc and
// RocksDB's FaultInjectionTestFS, at StemeDB's size).
//
// Faults (all off by default; counters start at construction or Reset()):
//   FailSyncAfter(n)            WritableFile::Sync calls number n+1, n+2, ...
//                               fail with EIO (the first n succeed).
//   FailAppendAfterBytes(n, s)  once n bytes were appended in total, an Append
//                               that would go past n fails with ENOSPC; with
//                               short_write, the part up to n is written
//                               first (a short write, as write(2) can do).
//   FailSyncDirAfter(n)         SyncDir calls number n+1, ... fail with EIO.
//   DelaySync(d, n)             the next n WritableFile::Sync calls (default:
//                               every one) sleep d first (a slow disk: fsync
//                               latency without an error), then syncs are fast.
//   SetPathFilter(s)            faults apply only to paths containing s
//                               (power-loss tracking applies to every path).
//
// Power loss: every file written through this Env is tracked: the bytes
// appended since its last successful Sync, the original bytes of a region
// overwritten since then (WAL segments are preallocated, then overwritten),
// and whether its directory entry (create or rename) was synced. So is every
// directory made through CreateDir (and so CreateDirs): its entry is durable
// once its parent is synced. A rename moves the tracking of everything below
// the old name to the new one, whose entry is then unsynced. A removal is
// durable at once (the model never brings a removed file back).
//   Crash()            freezes the file system: every later write, sync,
//                      mkdir, rename, remove or truncate fails with IOError,
//                      so no operation can complete "after the power went
//                      out".
//   DropUnsyncedData() truncates each file to its last synced size, puts
//                      back overwritten bytes, removes files whose directory
//                      entry was never synced, and removes directories whose
//                      entry was never synced with everything in them (a
//                      lost mkdir loses its whole subtree, however well the
//                      files inside were synced). With torn = true a random
//                      prefix of the unsynced bytes survives (a torn write),
//                      as with a real page cache.
//   Reset()            back to a healthy, active file system with no faults
//                      and no tracking (what a reboot looks like).
//
// ConfigureFromSpec parses "key=value[,key=value...]" with the keys
// sync_eio_after, enospc_after_bytes, short_write_after_bytes,
// syncdir_eio_after, sync_delay_ms (with sync_delay_count) and path_contains,
// e.g. "sync_eio_after=5" or "sync_delay_ms=150,sync_delay_count=40". The server
// uses it for STEMEDB_FAILPOINT when built with STEMEDB_FAILPOINTS.
//
// Thread-safety: safe for concurrent use, like every Env (one mutex: this is
// a test tool). Not owned: the target must outlive this Env.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/env.h"

namespace stemedb {

class FaultInjectionEnv : public EnvWrapper {
 public:
  explicit FaultInjectionEnv(Env* target = Env::Default(), uint32_t seed = 301);

  void FailSyncAfter(uint64_t n);
  void FailAppendAfterBytes(uint64_t n, bool short_write);
  void FailSyncDirAfter(uint64_t n);
  void DelaySync(std::chrono::milliseconds delay, uint64_t count = UINT64_MAX);
  void SetPathFilter(std::string substring);
  // Parses a spec as described above and applies it. InvalidArgument for an
  // unknown key or a bad number; nothing is applied then.
  Status ConfigureFromSpec(std::string_view spec);

  void Crash();
  Status DropUnsyncedData(bool torn = false);
  void Reset();

  uint64_t syncs() const;           // successful WritableFile::Sync calls
  uint64_t appended_bytes() const;  // bytes accepted by Append

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path,
                                                           uint64_t offset) override;
  Result<bool> CreateDir(const std::string& dir) override;
  Status RemoveFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status TruncateFile(const std::string& path, uint64_t size) override;
  Status SyncDir(const std::string& dir) override;

 private:
  class File;
  friend class File;

  struct FileState {
    uint64_t durable_size = 0;  // size as of the last successful Sync
    // (offset, original bytes) of durable regions overwritten since then.
    std::vector<std::pair<uint64_t, std::string>> undo;
  };

  bool Applies(const std::string& path) const;        // REQUIRES: mu_ held
  Status CheckActive(const std::string& what) const;  // REQUIRES: mu_ held
  // Hooks for File, called with mu_ not held.
  Status BeforeAppend(const std::string& path, uint64_t pos, std::string_view data,
                      size_t* allowed);
  Status BeforeSync(const std::string& path);
  Status AfterSync(const std::string& path, uint64_t pos);

  mutable std::mutex mu_;
  std::mt19937 rng_;
  bool active_ = true;
  std::string path_filter_;
  uint64_t sync_eio_after_ = UINT64_MAX;
  uint64_t syncdir_eio_after_ = UINT64_MAX;
  std::chrono::milliseconds sync_delay_{0};
  uint64_t sync_delays_left_ = 0;
  uint64_t enospc_after_bytes_ = UINT64_MAX;
  bool short_write_ = false;
  uint64_t sync_calls_ = 0;
  uint64_t syncdir_calls_ = 0;
  uint64_t syncs_ok_ = 0;
  uint64_t appended_ = 0;
  std::map<std::string, FileState> files_;
  // Paths (files and directories) whose entry in their parent is not durable.
  std::set<std::string> unsynced_entries_;
};

}  // namespace stemedb
