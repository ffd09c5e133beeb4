// Env::Default(): the POSIX implementation of util/env.h, after LevelDB's
// util/env_posix.cc. Every syscall that can be interrupted is retried on
// EINTR; every failure becomes a Status naming the path.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/env.h"

namespace stemedb {
namespace {

// Large enough that a WAL group of small records is one write(2); a larger
// Append bypasses the buffer (see PosixWritableFile::Append).
constexpr size_t kWritableBufferSize = 64 * 1024;

Status PosixError(const std::string& context, int err) { return Status::FromErrno(context, err); }

// Writes all of data, retrying short writes and EINTR.
Status WriteAll(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return PosixError(path + ": write", errno);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::OK();
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {
    buf_.reserve(kWritableBufferSize);
  }
  ~PosixWritableFile() override {
    if (fd_ >= 0) Close().IgnoreError("destructor: the owner already saw or ignored errors");
  }

  Status Append(std::string_view data) override {
    if (fd_ < 0) return Status::IOError(path_ + ": append after close");
    size_ += data.size();
    if (buf_.size() + data.size() <= kWritableBufferSize) {
      buf_.append(data);
      return Status::OK();
    }
    STEMEDB_RETURN_IF_ERROR(FlushBuffer());
    if (data.size() < kWritableBufferSize) {
      buf_.append(data);
      return Status::OK();
    }
    // Big appends (a whole WAL group) go straight to the kernel: one write(2),
    // no copy.
    return WriteAll(fd_, data.data(), data.size(), path_);
  }

  Status Flush() override {
    if (fd_ < 0) return Status::IOError(path_ + ": flush after close");
    return FlushBuffer();
  }

  Status Sync() override {
    STEMEDB_RETURN_IF_ERROR(Flush());
    // fdatasync: file data plus the metadata needed to read it back (size),
    // not mtime. WAL segments are preallocated so the size rarely changes.
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return PosixError(path_ + ": fdatasync", errno);
    }
    return Status::OK();
  }

  Status Close() override {
    if (fd_ < 0) return Status::OK();
    Status s = FlushBuffer();
    if (::close(fd_) != 0 && s.ok()) s = PosixError(path_ + ": close", errno);
    fd_ = -1;
    return s;
  }

  uint64_t Size() const override { return size_; }

  Status Truncate(uint64_t size) override {
    if (fd_ < 0) return Status::IOError(path_ + ": truncate after close");
    buf_.clear();  // unwritten bytes past `size` or not: all are being discarded
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return PosixError(path_ + ": ftruncate", errno);
    }
    if (::lseek(fd_, static_cast<off_t>(size), SEEK_SET) < 0) {
      return PosixError(path_ + ": lseek", errno);
    }
    size_ = size;
    return Status::OK();
  }

 private:
  Status FlushBuffer() {
    if (buf_.empty()) return Status::OK();
    Status s = WriteAll(fd_, buf_.data(), buf_.size(), path_);
    buf_.clear();
    return s;
  }

  int fd_;
  std::string path_;
  uint64_t size_;
  std::string buf_;
};

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixSequentialFile() override { ::close(fd_); }

  Status Read(size_t n, std::string_view* result, char* scratch) override {
    size_t got = 0;
    // Loop so that a short read means EOF, as the interface promises.
    while (got < n) {
      ssize_t r = ::read(fd_, scratch + got, n - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        *result = std::string_view(scratch, got);
        return PosixError(path_ + ": read", errno);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    *result = std::string_view(scratch, got);
    return Status::OK();
  }

  Status Skip(uint64_t n) override {
    if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) == static_cast<off_t>(-1)) {
      return PosixError(path_ + ": lseek", errno);
    }
    return Status::OK();
  }

 private:
  int fd_;
  std::string path_;
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  // Closing the descriptor releases the flock.
  ~PosixFileLock() override { ::close(fd_); }

 private:
  int fd_;
};

int OpenRetry(const char* path, int flags, mode_t mode = 0644) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    int fd = OpenRetry(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC);
    if (fd < 0) return PosixError(path + ": open for write", errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path, 0));
  }

  Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path,
                                                           uint64_t offset) override {
    int fd = OpenRetry(path.c_str(), O_WRONLY);
    if (fd < 0) return PosixError(path + ": reopen for write", errno);
    if (::lseek(fd, static_cast<off_t>(offset), SEEK_SET) == static_cast<off_t>(-1)) {
      int err = errno;
      ::close(fd);
      return PosixError(path + ": lseek", err);
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path, offset));
  }

  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    int fd = OpenRetry(path.c_str(), O_RDONLY);
    if (fd < 0) return PosixError(path + ": open for read", errno);
    return std::unique_ptr<SequentialFile>(new PosixSequentialFile(fd, path));
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Result<std::vector<std::string>> GetChildren(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError(dir + ": opendir", errno);
    std::vector<std::string> out;
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        out.emplace_back(e->d_name);
      }
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return PosixError(dir + ": readdir", err);
    return out;
  }

  Result<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError(path + ": stat", errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError(path + ": unlink", errno);
    return Status::OK();
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return PosixError(from + ": rename to " + to, errno);
    }
    return Status::OK();
  }

  Status TruncateFile(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return PosixError(path + ": truncate", errno);
    }
    return Status::OK();
  }

  Result<bool> CreateDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0777) == 0) return true;  // less the umask
    const int err = errno;
    if (err != EEXIST) return PosixError(dir + ": mkdir", err);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return PosixError(dir + ": stat", errno);
    if (!S_ISDIR(st.st_mode)) return Status::IOError(dir + ": exists and is not a directory");
    return false;
  }

  Status SyncDir(const std::string& dir) override {
    int fd = OpenRetry(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return PosixError(dir + ": open dir", errno);
    Status s;
    while (::fsync(fd) != 0) {
      if (errno != EINTR) {
        s = PosixError(dir + ": fsync dir", errno);
        break;
      }
    }
    ::close(fd);
    return s;
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = OpenRetry(path.c_str(), O_RDWR);
    if (fd < 0 && errno == ENOENT) {
      fd = OpenRetry(path.c_str(), O_RDWR | O_CREAT);
      if (fd >= 0) {
        Status s = SyncDir(ParentDir(path));
        if (!s.ok()) {
          ::close(fd);
          return s;
        }
      }
    }
    if (fd < 0) return PosixError(path + ": open lock file", errno);
    // flock locks belong to the open file description, so a second LockFile
    // of the same path in this process also gets Busy (unlike fcntl locks).
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) return Status::Busy(path + ": locked by another process");
      return PosixError(path + ": flock", err);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }

  Result<uint64_t> GetFreeSpace(const std::string& path) override {
    struct statvfs st;
    if (::statvfs(path.c_str(), &st) != 0) return PosixError(path + ": statvfs", errno);
    return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
  }

  Status SetPermissions(const std::string& path, uint32_t mode) override {
    if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
      return PosixError(path + ": chmod", errno);
    }
    return Status::OK();
  }
};

}  // namespace

std::string ParentDir(const std::string& path) {
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') end--;
  size_t slash = path.find_last_of('/', end - 1);
  if (end == 0 || slash == std::string::npos) return ".";
  while (slash > 0 && path[slash - 1] == '/') slash--;
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status SyncParentDir(Env* env, const std::string& path) { return env->SyncDir(ParentDir(path)); }

Status Env::CreateDirs(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("create directory: empty path");
  // Every level top-down ("/a/b" -> "/a", "/a/b"), then the new ones synced
  // bottom-up: when "/a" becomes durable in "/", "/a/b" already is in "/a".
  std::vector<std::string> created;
  for (size_t pos = 0; pos != std::string::npos;) {
    size_t slash = dir.find('/', pos);
    std::string level = dir.substr(0, slash);
    pos = slash == std::string::npos ? slash : slash + 1;
    if (level.empty() || level.back() == '/') continue;  // "/" itself, or "//"
    auto made = CreateDir(level);
    if (!made) return made.error();
    if (*made) created.push_back(std::move(level));
  }
  for (auto it = created.rbegin(); it != created.rend(); ++it) {
    STEMEDB_RETURN_IF_ERROR(SyncParentDir(this, *it));
  }
  return Status::OK();
}

Env* Env::Default() {
  // Leaked on purpose: other static destructors may still log or sync.
  static Env* env = new PosixEnv();
  return env;
}

Status WriteFileAtomically(Env* env, const std::string& path, std::string_view data,
                           uint32_t mode) {
  const std::string tmp = path + ".tmp";
  auto file = env->NewWritableFile(tmp);
  if (!file) return file.error();
  // chmod before the first byte: root.key must never be readable by others,
  // not even for the instant between write and chmod.
  Status s = env->SetPermissions(tmp, mode);
  if (s.ok()) s = (*file)->Append(data);
  if (s.ok()) s = (*file)->Sync();
  Status c = (*file)->Close();
  if (s.ok()) s = c;
  if (s.ok()) s = env->RenameFile(tmp, path);
  if (s.ok()) return SyncParentDir(env, path);
  env->RemoveFile(tmp).IgnoreError("best effort cleanup; the original error is returned");
  return s;
}

Result<std::string> ReadFileToString(Env* env, const std::string& path) {
  auto file = env->NewSequentialFile(path);
  if (!file) return file.error();
  std::string out;
  std::string scratch(64 * 1024, '\0');
  for (;;) {
    std::string_view chunk;
    Status s = (*file)->Read(scratch.size(), &chunk, scratch.data());
    if (!s.ok()) return s;
    if (chunk.empty()) break;
    out.append(chunk);
  }
  return out;
}

}  // namespace stemedb
