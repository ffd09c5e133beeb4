#include "wal/preallocator.h"

#include "util/logging.h"
#include "util/thread_name.h"
#include "wal/log_format.h"
#include "wal/segment_scan.h"

namespace stemedb::wal {
namespace {
constexpr size_t kZeroChunk = 1 << 20;
}  // namespace

Preallocator::Preallocator(Env* env, std::string dir, uint64_t bytes)
    : env_(env), path_(JoinPath(dir, std::string(kPreallocFileName))), bytes_(bytes) {
  thread_ = std::thread([this] {
    SetThreadName("stemedb-prealloc");
    Run();
  });
}

Preallocator::~Preallocator() { Stop(); }

void Preallocator::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (state_ == State::kIdle || state_ == State::kFailed) {
    state_ = State::kRunning;
    cv_.notify_all();
  }
}

Status Preallocator::TakeAs(const std::string& path) {
  std::unique_lock<std::mutex> l(mu_);
  if (state_ == State::kIdle || state_ == State::kFailed) {
    // Nothing prepared (or the last attempt failed, maybe for a reason that
    // has gone away, like ENOSPC after a purge): try now and wait for it.
    state_ = State::kRunning;
    cv_.notify_all();
  }
  cv_.wait(l, [this] { return state_ != State::kRunning || stop_; });
  if (stop_) return Status::Unavailable("wal preallocator stopped");
  if (state_ == State::kFailed) return error_;
  state_ = State::kIdle;
  return env_->RenameFile(path_, path);
}

void Preallocator::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void Preallocator::Run() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [this] { return state_ == State::kRunning || stop_; });
    if (stop_) return;
    l.unlock();
    Status s = Prepare();
    l.lock();
    if (stop_) return;
    if (s.ok()) {
      state_ = State::kReady;
    } else {
      log::Warn("wal segment preallocation failed", {{"error", s.ToString()}});
      state_ = State::kFailed;
      error_ = s;
    }
    cv_.notify_all();
  }
}

Status Preallocator::Prepare() {
  auto file = env_->NewWritableFile(path_);
  if (!file) return file.error();
  const std::string zeros(kZeroChunk, '\0');
  Status s;
  for (uint64_t done = 0; s.ok() && done < bytes_;) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return Status::Unavailable("wal preallocator stopped");
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroChunk, bytes_ - done));
    s = (*file)->Append(std::string_view(zeros.data(), n));
    done += n;
  }
  if (s.ok()) s = (*file)->Sync();
  Status c = (*file)->Close();
  if (s.ok()) s = c;
  if (!s.ok()) env_->RemoveFile(path_).IgnoreError("partial preallocation; retried later");
  return s;
}

}  // namespace stemedb::wal
