#include "util/fault_injection_env.h"

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <optional>
#include <system_error>
#include <thread>

#include "util/key_value_reader.h"

namespace stemedb {
namespace {

std::string Normalize(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// `path` is `dir` or lies below it.
bool Within(const std::string& path, const std::string& dir) {
  return path.size() >= dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/' || dir == "/");
}

}  // namespace

// Forwards to the real file, asking the Env first. Every Append is flushed to
// the OS at once, so no byte can reach the disk after Crash() from a user-
// space buffer (the real file's Close would otherwise flush it).
class FaultInjectionEnv::File final : public WritableFile {
 public:
  File(FaultInjectionEnv* env, std::string path, std::unique_ptr<WritableFile> file)
      : env_(env), path_(std::move(path)), file_(std::move(file)), pos_(file_->Size()) {}

  Status Append(std::string_view data) override {
    size_t allowed = data.size();
    Status fault = env_->BeforeAppend(path_, pos_, data, &allowed);
    if (allowed > 0) {
      Status s = file_->Append(data.substr(0, allowed));
      if (s.ok()) s = file_->Flush();
      if (!s.ok()) return s;
      pos_ += allowed;
    }
    return fault;
  }
  Status Flush() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    STEMEDB_RETURN_IF_ERROR(env_->CheckActive(path_ + ": flush"));
    return file_->Flush();
  }
  Status Sync() override {
    STEMEDB_RETURN_IF_ERROR(env_->BeforeSync(path_));
    STEMEDB_RETURN_IF_ERROR(file_->Sync());
    return env_->AfterSync(path_, pos_);
  }
  Status Close() override { return file_->Close(); }
  uint64_t Size() const override { return pos_; }
  Status Truncate(uint64_t size) override {
    {
      std::lock_guard<std::mutex> l(env_->mu_);
      STEMEDB_RETURN_IF_ERROR(env_->CheckActive(path_ + ": truncate"));
    }
    STEMEDB_RETURN_IF_ERROR(file_->Truncate(size));
    pos_ = size;
    return Status::OK();
  }

 private:
  FaultInjectionEnv* env_;
  std::string path_;
  std::unique_ptr<WritableFile> file_;
  uint64_t pos_;
};

FaultInjectionEnv::FaultInjectionEnv(Env* target, uint32_t seed) : EnvWrapper(target), rng_(seed) {}

void FaultInjectionEnv::FailSyncAfter(uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  sync_eio_after_ = n;
  sync_calls_ = 0;
}

void FaultInjectionEnv::FailAppendAfterBytes(uint64_t n, bool short_write) {
  std::lock_guard<std::mutex> l(mu_);
  enospc_after_bytes_ = n;
  short_write_ = short_write;
  appended_ = 0;
}

void FaultInjectionEnv::FailSyncDirAfter(uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  syncdir_eio_after_ = n;
  syncdir_calls_ = 0;
}

void FaultInjectionEnv::DelaySync(std::chrono::milliseconds delay, uint64_t count) {
  std::lock_guard<std::mutex> l(mu_);
  sync_delay_ = delay;
  sync_delays_left_ = count;
}

void FaultInjectionEnv::SetPathFilter(std::string substring) {
  std::lock_guard<std::mutex> l(mu_);
  path_filter_ = std::move(substring);
}

Status FaultInjectionEnv::ConfigureFromSpec(std::string_view spec) {
  struct Parsed {
    std::string key;
    std::string value;
  };
  std::vector<Parsed> items;
  KeyValueReader reader(spec, ',');
  while (auto item = reader.Next()) {
    if (!item->has_value) {
      return Status::InvalidArgument("failpoint spec: expected key=value, got '" +
                                     std::string(item->key) + "'");
    }
    items.push_back({std::string(item->key), std::string(item->value)});
  }
  // Validate everything before applying anything.
  for (const auto& it : items) {
    if (it.key == "path_contains") continue;
    if (it.key != "sync_eio_after" && it.key != "enospc_after_bytes" &&
        it.key != "short_write_after_bytes" && it.key != "syncdir_eio_after" &&
        it.key != "sync_delay_ms" && it.key != "sync_delay_count") {
      return Status::InvalidArgument("failpoint spec: unknown key '" + it.key + "'");
    }
    uint64_t v;
    auto [p, ec] = std::from_chars(it.value.data(), it.value.data() + it.value.size(), v);
    if (ec != std::errc() || p != it.value.data() + it.value.size()) {
      return Status::InvalidArgument("failpoint spec: bad number for " + it.key);
    }
  }
  std::optional<uint64_t> delay_ms;
  uint64_t delay_count = UINT64_MAX;
  for (const auto& it : items) {
    uint64_t v = 0;
    std::from_chars(it.value.data(), it.value.data() + it.value.size(), v);
    if (it.key == "sync_eio_after") FailSyncAfter(v);
    if (it.key == "enospc_after_bytes") FailAppendAfterBytes(v, false);
    if (it.key == "short_write_after_bytes") FailAppendAfterBytes(v, true);
    if (it.key == "syncdir_eio_after") FailSyncDirAfter(v);
    if (it.key == "sync_delay_ms") delay_ms = v;
    if (it.key == "sync_delay_count") delay_count = v;
    if (it.key == "path_contains") SetPathFilter(it.value);
  }
  if (delay_ms) DelaySync(std::chrono::milliseconds(*delay_ms), delay_count);
  return Status::OK();
}

bool FaultInjectionEnv::Applies(const std::string& path) const {
  return path_filter_.empty() || path.find(path_filter_) != std::string::npos;
}

Status FaultInjectionEnv::CheckActive(const std::string& what) const {
  if (active_) return Status::OK();
  return Status::IOError(what + ": file system inactive (simulated power loss)");
}

Status FaultInjectionEnv::BeforeAppend(const std::string& path, uint64_t pos, std::string_view data,
                                       size_t* allowed) {
  std::lock_guard<std::mutex> l(mu_);
  *allowed = 0;
  STEMEDB_RETURN_IF_ERROR(CheckActive(path + ": append"));
  size_t n = data.size();
  Status fault;
  if (Applies(path) && appended_ + n > enospc_after_bytes_) {
    fault = Status::FromErrno(path + ": write (injected)", ENOSPC);
    n = short_write_ && enospc_after_bytes_ > appended_
            ? static_cast<size_t>(enospc_after_bytes_ - appended_)
            : 0;
  }
  if (Applies(path)) appended_ += n;
  FileState& st = files_[path];
  if (pos < st.durable_size && n > 0) {
    // Overwriting durable bytes: remember them so power loss can restore.
    uint64_t len = std::min<uint64_t>(n, st.durable_size - pos);
    auto in = target()->NewSequentialFile(path);
    if (!in) return in.error();
    STEMEDB_RETURN_IF_ERROR((*in)->Skip(pos));
    std::string old(static_cast<size_t>(len), '\0');
    std::string_view got;
    STEMEDB_RETURN_IF_ERROR((*in)->Read(old.size(), &got, old.data()));
    st.undo.emplace_back(pos, std::string(got));
  }
  *allowed = n;
  return fault;
}

Status FaultInjectionEnv::BeforeSync(const std::string& path) {
  std::chrono::milliseconds delay{0};
  {
    std::lock_guard<std::mutex> l(mu_);
    STEMEDB_RETURN_IF_ERROR(CheckActive(path + ": fdatasync"));
    if (Applies(path) && sync_calls_++ >= sync_eio_after_) {
      return Status::FromErrno(path + ": fdatasync (injected)", EIO);
    }
    if (Applies(path) && sync_delays_left_ > 0) {
      delay = sync_delay_;
      if (sync_delays_left_ != UINT64_MAX) sync_delays_left_--;
    }
  }
  // Outside the lock: a slow disk delays this sync, not every other call.
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  return Status::OK();
}

Status FaultInjectionEnv::AfterSync(const std::string& path, uint64_t pos) {
  std::lock_guard<std::mutex> l(mu_);
  // A sync that returns after the crash did not complete before it.
  STEMEDB_RETURN_IF_ERROR(CheckActive(path + ": fdatasync"));
  FileState& st = files_[path];
  st.durable_size = std::max(st.durable_size, pos);
  st.undo.clear();
  syncs_ok_++;
  return Status::OK();
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewWritableFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  STEMEDB_RETURN_IF_ERROR(CheckActive(path + ": create"));
  const bool existed = target()->FileExists(path);
  auto r = target()->NewWritableFile(path);
  if (!r) return r.error();
  files_[path] = FileState();  // O_TRUNC: nothing of it is durable yet
  if (!existed) unsynced_entries_.insert(path);
  return std::unique_ptr<WritableFile>(new File(this, path, std::move(*r)));
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::ReopenWritableFile(const std::string& path,
                                                                            uint64_t offset) {
  std::lock_guard<std::mutex> l(mu_);
  STEMEDB_RETURN_IF_ERROR(CheckActive(path + ": reopen"));
  auto r = target()->ReopenWritableFile(path, offset);
  if (!r) return r.error();
  if (files_.find(path) == files_.end()) {
    // Not written through us before: what is on disk counts as durable.
    auto size = target()->GetFileSize(path);
    if (!size) return size.error();
    files_[path].durable_size = *size;
  }
  return std::unique_ptr<WritableFile>(new File(this, path, std::move(*r)));
}

Result<bool> FaultInjectionEnv::CreateDir(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  STEMEDB_RETURN_IF_ERROR(CheckActive(dir + ": mkdir"));
  auto made = target()->CreateDir(dir);
  if (made && *made) unsynced_entries_.insert(Normalize(dir));
  return made;
}

Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  STEMEDB_RETURN_IF_ERROR(CheckActive(path + ": remove"));
  STEMEDB_RETURN_IF_ERROR(target()->RemoveFile(path));
  files_.erase(path);
  unsynced_entries_.erase(path);
  return Status::OK();
}

Status FaultInjectionEnv::RenameFile(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(mu_);
  STEMEDB_RETURN_IF_ERROR(CheckActive(from + ": rename"));
  STEMEDB_RETURN_IF_ERROR(target()->RenameFile(from, to));
  const std::string f = Normalize(from);
  const std::string t = Normalize(to);
  // Whatever had the new name is gone; what was below the old name (a
  // renamed directory) is tracked under the new one.
  std::erase_if(files_, [&t](const auto& kv) { return Within(kv.first, t); });
  std::erase_if(unsynced_entries_, [&t](const std::string& p) { return Within(p, t); });
  std::map<std::string, FileState> moved_files;
  for (auto it = files_.begin(); it != files_.end();) {
    if (!Within(it->first, f)) {
      ++it;
      continue;
    }
    moved_files.emplace(t + it->first.substr(f.size()), std::move(it->second));
    it = files_.erase(it);
  }
  std::set<std::string> moved_entries;
  for (auto it = unsynced_entries_.begin(); it != unsynced_entries_.end();) {
    if (!Within(*it, f)) {
      ++it;
      continue;
    }
    moved_entries.insert(t + it->substr(f.size()));
    it = unsynced_entries_.erase(it);
  }
  files_.merge(moved_files);
  unsynced_entries_.merge(moved_entries);
  unsynced_entries_.insert(t);  // the new name is not durable until SyncDir
  return Status::OK();
}

Status FaultInjectionEnv::TruncateFile(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> l(mu_);
  STEMEDB_RETURN_IF_ERROR(CheckActive(path + ": truncate"));
  STEMEDB_RETURN_IF_ERROR(target()->TruncateFile(path, size));
  auto it = files_.find(path);
  if (it != files_.end()) it->second.durable_size = std::min(it->second.durable_size, size);
  return Status::OK();
}

Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  const std::string d = Normalize(dir);
  {
    std::lock_guard<std::mutex> l(mu_);
    STEMEDB_RETURN_IF_ERROR(CheckActive(d + ": fsync dir"));
    if (Applies(d) && syncdir_calls_++ >= syncdir_eio_after_) {
      return Status::FromErrno(d + ": fsync dir (injected)", EIO);
    }
  }
  STEMEDB_RETURN_IF_ERROR(target()->SyncDir(dir));
  std::lock_guard<std::mutex> l(mu_);
  STEMEDB_RETURN_IF_ERROR(CheckActive(d + ": fsync dir"));
  for (auto it = unsynced_entries_.begin(); it != unsynced_entries_.end();) {
    it = ParentDir(*it) == d ? unsynced_entries_.erase(it) : std::next(it);
  }
  return Status::OK();
}

void FaultInjectionEnv::Crash() {
  std::lock_guard<std::mutex> l(mu_);
  active_ = false;
}

Status FaultInjectionEnv::DropUnsyncedData(bool torn) {
  std::lock_guard<std::mutex> l(mu_);
  Status result;
  auto note = [&result](Status s) {
    if (result.ok() && !s.ok()) result = s;
  };
  // Sorted, so a directory comes before what is below it: once it is gone,
  // entries below it are gone with it.
  for (const auto& path : unsynced_entries_) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      std::filesystem::remove_all(path, ec);
      if (ec) note(Status::FromErrno(path + ": remove_all", ec.value()));
    } else if (target()->FileExists(path)) {
      note(target()->RemoveFile(path));
    }
    std::erase_if(files_, [&path](const auto& kv) { return Within(kv.first, path); });
  }
  unsynced_entries_.clear();
  for (auto& [path, st] : files_) {
    if (!target()->FileExists(path)) continue;
    // Put back overwritten durable bytes, newest first so the oldest wins.
    for (auto u = st.undo.rbegin(); u != st.undo.rend(); ++u) {
      size_t keep_new = torn ? std::uniform_int_distribution<size_t>(0, u->second.size())(rng_) : 0;
      auto f = target()->ReopenWritableFile(path, u->first + keep_new);
      if (!f) {
        note(f.error());
        continue;
      }
      note((*f)->Append(std::string_view(u->second).substr(keep_new)));
      note((*f)->Close());
    }
    st.undo.clear();
    auto size = target()->GetFileSize(path);
    if (!size) {
      note(size.error());
      continue;
    }
    if (*size > st.durable_size) {
      uint64_t keep =
          torn ? std::uniform_int_distribution<uint64_t>(0, *size - st.durable_size)(rng_) : 0;
      note(target()->TruncateFile(path, st.durable_size + keep));
    }
  }
  return result;
}

void FaultInjectionEnv::Reset() {
  std::lock_guard<std::mutex> l(mu_);
  active_ = true;
  path_filter_.clear();
  sync_eio_after_ = syncdir_eio_after_ = enospc_after_bytes_ = UINT64_MAX;
  short_write_ = false;
  sync_delay_ = std::chrono::milliseconds(0);
  sync_delays_left_ = 0;
  sync_calls_ = syncdir_calls_ = syncs_ok_ = appended_ = 0;
  files_.clear();
  unsynced_entries_.clear();
}

uint64_t FaultInjectionEnv::syncs() const {
  std::lock_guard<std::mutex> l(mu_);
  return syncs_ok_;
}

uint64_t FaultInjectionEnv::appended_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return appended_;
}

}  // namespace stemedb
