// Preallocator: prepares the next WAL segment in the background, so rotation
// is a rename instead of an allocation. The file is zero-filled and synced
// (not merely fallocate'd): fdatasync into unwritten extents still has to
// commit metadata on every sync, which is much slower on the target disks.
//
// One background thread, one file (kPreallocFileName in the WAL directory).
// Used by the Wal writer thread only (Start/TakeAs), plus Stop at Close.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "util/env.h"
#include "util/status.h"

namespace stemedb::wal {

class Preallocator {
 public:
  Preallocator(Env* env, std::string dir, uint64_t bytes);
  ~Preallocator();  // Stop()

  Preallocator(const Preallocator&) = delete;
  Preallocator& operator=(const Preallocator&) = delete;

  // Begins preparing the file unless it is being prepared or ready.
  void Start();
  // Waits for the file, then renames it to `path` (the caller syncs the
  // directory). If the last attempt failed, makes a new one first and waits
  // for it; if that fails too (ENOSPC: NoSpace) returns its error, and the
  // next TakeAs tries again.
  Status TakeAs(const std::string& path);
  // Abandons any preparation in progress and joins the thread. The partial
  // file is left for the next Open to delete.
  void Stop();

 private:
  enum class State { kIdle, kRunning, kReady, kFailed };
  void Run();
  Status Prepare();

  Env* const env_;
  const std::string path_;
  const uint64_t bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kIdle;
  Status error_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace stemedb::wal
