#include "api/disk_monitor.h"

#include "api/metrics.h"
#include "util/logging.h"
#include "util/thread_name.h"

namespace stemedb::api {

DiskMonitor::DiskMonitor(Env* env, std::vector<Volume> volumes, uint64_t min_free_bytes,
                         Metrics* metrics, std::chrono::milliseconds interval)
    : env_(env), min_free_bytes_(min_free_bytes), metrics_(metrics), interval_(interval) {
  for (auto& v : volumes) {
    VolumeState s;
    s.name = std::move(v.name);
    s.path = std::move(v.path);
    volumes_.push_back(std::move(s));
  }
}

DiskMonitor::~DiskMonitor() { Stop(); }

void DiskMonitor::Start() {
  PollOnce();
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    SetThreadName("stemedb-disk");
    Run();
  });
}

void DiskMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DiskMonitor::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    PollOnce();
    lock.lock();
  }
}

void DiskMonitor::PollOnce() {
  // statfs outside the lock: a hung NFS mount must not block writes_allowed().
  std::vector<std::pair<std::string, std::string>> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& v : volumes_) targets.emplace_back(v.name, v.path);
  }
  std::vector<Result<uint64_t>> free;
  free.reserve(targets.size());
  for (const auto& t : targets) free.push_back(env_->GetFreeSpace(t.second));

  bool allowed = true;
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < volumes_.size() && i < free.size(); ++i) {
    VolumeState& v = volumes_[i];
    if (free[i]) {
      bool was_low = v.low;
      v.free_bytes = *free[i];
      v.known = true;
      v.low = v.free_bytes < min_free_bytes_;
      if (v.low != was_low) {
        (v.low ? log::Warn : log::Info)(
            v.low ? "disk space low: writes refused (507)" : "disk space recovered: writes allowed",
            {{"volume", v.name},
             {"path", v.path},
             {"free_bytes", std::to_string(v.free_bytes)},
             {"min_free_bytes", std::to_string(min_free_bytes_)}});
      }
      if (metrics_ != nullptr) metrics_->SetDiskFree(v.name, v.free_bytes);
    } else {
      // Keep the previous verdict; log at debug to avoid one line a second.
      log::Debug("free space check failed",
                 {{"volume", v.name}, {"error", free[i].error().ToString()}});
    }
    if (v.low) allowed = false;
  }
  writes_allowed_.store(allowed, std::memory_order_relaxed);
}

std::vector<DiskMonitor::VolumeState> DiskMonitor::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return volumes_;
}

}  // namespace stemedb::api
