#include "backup/archive_writer.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <memory>
#include <vector>

#include "backup/manifest.h"
#include "backup/sha256.h"
#include "util/env.h"

namespace stemedb::backup {

namespace fs = std::filesystem;

namespace {

struct SourceFile {
  std::string disk_path;
  ManifestFile entry;
};

// Lists regular files under `dir` recursively, sorted by archive path. A
// symlink or special file in a checkpoint would be a bug upstream; refusing
// it beats archiving something restore cannot faithfully recreate.
Result<std::vector<SourceFile>> ListFiles(const std::string& dir) {
  std::vector<SourceFile> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) return Status::IOError("list " + dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status::IOError("list " + dir + ": " + ec.message());
    const fs::directory_entry& e = *it;
    if (e.is_directory(ec)) continue;
    if (!e.is_regular_file(ec) || e.is_symlink(ec)) {
      return Status::InvalidArgument("checkpoint holds a non-regular file: " + e.path().string());
    }
    SourceFile f;
    f.disk_path = e.path().string();
    f.entry.path = std::string(kDbDir) + "/" + fs::relative(e.path(), dir, ec).generic_string();
    if (ec) return Status::IOError("relative path of " + f.disk_path + ": " + ec.message());
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.entry.path < b.entry.path; });
  return out;
}

// Reads `path` in kIoChunkBytes pieces, hashing and passing each on.
Status StreamFile(const std::string& path, std::string& scratch, uint64_t* size,
                  std::string* sha256, const std::function<Status(std::string_view)>& each) {
  auto file = Env::Default()->NewSequentialFile(path);
  if (!file) return file.error();
  Sha256 hash;
  uint64_t total = 0;
  for (;;) {
    std::string_view piece;
    STEMEDB_RETURN_IF_ERROR((*file)->Read(kIoChunkBytes, &piece, scratch.data()));
    if (piece.empty()) break;
    hash.Update(piece);
    total += piece.size();
    if (each) STEMEDB_RETURN_IF_ERROR(each(piece));
  }
  *size = total;
  *sha256 = hash.FinalHex();
  return Status::OK();
}

// libarchive writes through this; a sink error is remembered so the caller
// returns the sink's own Status rather than libarchive's generic message.
struct SinkContext {
  const std::function<Status(std::string_view)>* sink;
  Status error;
  uint64_t bytes = 0;
};

la_ssize_t WriteCallback(struct archive* a, void* client, const void* buf, size_t len) {
  auto* ctx = static_cast<SinkContext*>(client);
  Status s = (*ctx->sink)(std::string_view(static_cast<const char*>(buf), len));
  if (!s.ok()) {
    ctx->error = s;
    archive_set_error(a, EIO, "sink failed");
    return -1;
  }
  ctx->bytes += len;
  return static_cast<la_ssize_t>(len);
}

struct ArchiveDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

class TarWriter {
 public:
  explicit TarWriter(const std::function<Status(std::string_view)>& sink) {
    ctx_.sink = &sink;
    a_.reset(archive_write_new());
  }

  Status Open() {
    if (!a_) return Status::IOError("archive_write_new failed");
    if (archive_write_set_format_pax_restricted(a_.get()) != ARCHIVE_OK ||
        archive_write_add_filter_none(a_.get()) != ARCHIVE_OK) {
      return Error("configure tar writer");
    }
    if (archive_write_open(a_.get(), &ctx_, nullptr, WriteCallback, nullptr) != ARCHIVE_OK) {
      return Error("open tar writer");
    }
    return Status::OK();
  }

  Status Header(const std::string& path, bool is_dir, uint64_t size) {
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_filetype(e.get(), is_dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e.get(), is_dir ? 0755 : 0644);
    archive_entry_set_size(e.get(), is_dir ? 0 : static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.get(), now_, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return Error("header " + path);
    return Status::OK();
  }

  Status Data(std::string_view data) {
    while (!data.empty()) {
      la_ssize_t n = archive_write_data(a_.get(), data.data(), data.size());
      if (n <= 0) return Error("write data");
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::OK();
  }

  Status Close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return Error("close tar writer");
    return Status::OK();
  }

  uint64_t bytes() const { return ctx_.bytes; }

 private:
  Status Error(const std::string& what) {
    if (!ctx_.error.ok()) return ctx_.error;
    const char* msg = archive_error_string(a_.get());
    return Status::IOError("archive: " + what + ": " + (msg ? msg : "unknown error"));
  }

  SinkContext ctx_;
  std::unique_ptr<struct archive, ArchiveDeleter> a_;
  time_t now_ = std::time(nullptr);
};

}  // namespace

Result<SnapshotInfo> WriteCheckpointArchive(const std::string& checkpoint_dir,
                                            uint64_t snapshot_lsn,
                                            const std::string& server_version,
                                            const std::function<Status(std::string_view)>& sink) {
  auto files = ListFiles(checkpoint_dir);
  if (!files) return files.error();
  std::string scratch(kIoChunkBytes, '\0');

  // Pass 1: hash, so the manifest can go first.
  Manifest manifest;
  manifest.snapshot_lsn = snapshot_lsn;
  manifest.created_at = NowRfc3339();
  manifest.server_version = server_version;
  SnapshotInfo info;
  info.snapshot_lsn = snapshot_lsn;
  for (SourceFile& f : *files) {
    STEMEDB_RETURN_IF_ERROR(
        StreamFile(f.disk_path, scratch, &f.entry.size, &f.entry.sha256, nullptr));
    manifest.files.push_back(f.entry);
    info.files++;
  }

  // Pass 2: emit.
  TarWriter tar(sink);
  STEMEDB_RETURN_IF_ERROR(tar.Open());
  const std::string manifest_json = manifest.ToJson();
  STEMEDB_RETURN_IF_ERROR(tar.Header(std::string(kManifestName), false, manifest_json.size()));
  STEMEDB_RETURN_IF_ERROR(tar.Data(manifest_json));
  STEMEDB_RETURN_IF_ERROR(tar.Header(std::string(kDbDir) + "/", true, 0));
  for (const SourceFile& f : *files) {
    STEMEDB_RETURN_IF_ERROR(tar.Header(f.entry.path, false, f.entry.size));
    uint64_t size = 0;
    std::string digest;
    // A file that grew would overflow its tar entry; stop before writing
    // more than the header promised.
    uint64_t written = 0;
    STEMEDB_RETURN_IF_ERROR(
        StreamFile(f.disk_path, scratch, &size, &digest, [&](std::string_view piece) {
          written += piece.size();
          if (written > f.entry.size) {
            return Status::Failed("checkpoint file grew while archiving: " + f.disk_path);
          }
          return tar.Data(piece);
        }));
    if (size != f.entry.size || digest != f.entry.sha256) {
      return Status::Failed("checkpoint file changed while archiving: " + f.disk_path);
    }
  }
  STEMEDB_RETURN_IF_ERROR(tar.Header(std::string(kWalDir) + "/", true, 0));
  STEMEDB_RETURN_IF_ERROR(tar.Close());
  info.bytes = tar.bytes();
  return info;
}

}  // namespace stemedb::backup
