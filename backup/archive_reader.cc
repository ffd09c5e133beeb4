#include "backup/archive_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "backup/archive_writer.h"
#include "backup/sha256.h"
#include "util/env.h"

namespace stemedb::backup {

namespace fs = std::filesystem;

namespace {

// Feeds libarchive from the pull source and hashes every byte handed over,
// so the whole-stream checksum needs no second pass.
struct SourceContext {
  const ArchiveSource* source;
  std::string buffer = std::string(kIoChunkBytes, '\0');
  Sha256 hash;
  uint64_t bytes = 0;
  Status error;
};

la_ssize_t ReadCallback(struct archive* a, void* client, const void** out) {
  auto* ctx = static_cast<SourceContext*>(client);
  auto n = (*ctx->source)(ctx->buffer.data(), ctx->buffer.size());
  if (!n) {
    ctx->error = n.error();
    archive_set_error(a, EIO, "source failed");
    return -1;
  }
  ctx->hash.Update(std::string_view(ctx->buffer.data(), *n));
  ctx->bytes += *n;
  *out = ctx->buffer.data();
  return static_cast<la_ssize_t>(*n);
}

struct ReaderDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

class Reader {
 public:
  Reader(const ArchiveSource& source, const ArchiveReadOptions& options) : options_(options) {
    ctx_.source = &source;
  }

  Result<ArchiveSummary> Run() {
    a_.reset(archive_read_new());
    if (!a_) return Status::IOError("archive_read_new failed");
    archive_read_support_format_tar(a_.get());
    if (archive_read_open(a_.get(), &ctx_, nullptr, ReadCallback, nullptr) != ARCHIVE_OK) {
      return Error("open");
    }
    STEMEDB_RETURN_IF_ERROR(ReadManifest());
    for (;;) {
      struct archive_entry* entry = nullptr;
      int rc = archive_read_next_header(a_.get(), &entry);
      if (rc == ARCHIVE_EOF) break;
      if (rc != ARCHIVE_OK) return Error("entry header");
      STEMEDB_RETURN_IF_ERROR(ReadEntry(entry));
    }
    for (const auto& [path, file] : expected_) {
      if (!seen_.contains(path)) return Status::Corruption("archive: missing file " + path);
    }
    STEMEDB_RETURN_IF_ERROR(DrainSource());
    summary_.archive_bytes = ctx_.bytes;
    summary_.archive_sha256 = ctx_.hash.FinalHex();
    if (!options_.expected_sha256.empty() && summary_.archive_sha256 != options_.expected_sha256) {
      return Status::Corruption("archive: sha256 " + summary_.archive_sha256 +
                                " does not match the expected " + options_.expected_sha256);
    }
    if (!options_.unpack_dir.empty()) STEMEDB_RETURN_IF_ERROR(FinishUnpack());
    return std::move(summary_);
  }

 private:
  Status Error(const std::string& what) {
    if (!ctx_.error.ok()) return ctx_.error.WithContext("archive source");
    const char* msg = archive_error_string(a_.get());
    return Status::Corruption("archive: " + what + ": " + (msg ? msg : "malformed tar"));
  }

  Status ReadManifest() {
    struct archive_entry* entry = nullptr;
    int rc = archive_read_next_header(a_.get(), &entry);
    if (rc == ARCHIVE_EOF) return Status::Corruption("archive: empty (no MANIFEST.json)");
    if (rc != ARCHIVE_OK) return Error("first header");
    if (kManifestName != archive_entry_pathname(entry) ||
        archive_entry_filetype(entry) != AE_IFREG) {
      return Status::Corruption("archive: first entry is not MANIFEST.json");
    }
    la_int64_t size = archive_entry_size(entry);
    if (size < 0 || static_cast<uint64_t>(size) > kMaxManifestBytes) {
      return Status::Corruption("archive: MANIFEST.json size out of range");
    }
    std::string text(static_cast<size_t>(size), '\0');
    size_t got = 0;
    while (got < text.size()) {
      la_ssize_t n = archive_read_data(a_.get(), text.data() + got, text.size() - got);
      if (n < 0) return Error("MANIFEST.json data");
      if (n == 0) return Status::Corruption("archive: MANIFEST.json truncated");
      got += static_cast<size_t>(n);
    }
    auto manifest = Manifest::Parse(text);
    if (!manifest) return manifest.error();
    summary_.manifest = std::move(*manifest);
    for (const ManifestFile& f : summary_.manifest.files) expected_.emplace(f.path, &f);
    return Status::OK();
  }

  Status ReadEntry(struct archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    std::string path = raw ? raw : "";
    if (!IsSafeArchivePath(path))
      return Status::Corruption("archive: unsafe path \"" + path + "\"");
    if (archive_entry_hardlink(entry) != nullptr || archive_entry_symlink(entry) != nullptr) {
      return Status::Corruption("archive: link entry refused: " + path);
    }
    auto type = archive_entry_filetype(entry);
    if (type == AE_IFDIR) {
      if (!options_.unpack_dir.empty()) {
        if (auto rel = UnpackPath(path)) return MakeDir(*rel);
      }
      return Status::OK();
    }
    if (type != AE_IFREG) return Status::Corruption("archive: special file refused: " + path);
    if (path == kManifestName) return Status::Corruption("archive: second MANIFEST.json");

    auto it = expected_.find(path);
    if (it == expected_.end()) return Status::Corruption("archive: file not in manifest: " + path);
    if (!seen_.insert(path).second) return Status::Corruption("archive: duplicate file: " + path);
    const ManifestFile& want = *it->second;
    if (archive_entry_size(entry) != static_cast<la_int64_t>(want.size)) {
      return Status::Corruption("archive: " + path + " size differs from manifest");
    }
    return CopyData(path, want);
  }

  // Where archive `path` goes below unpack_dir ("" for unpack_dir itself);
  // nullopt if it lies outside unpack_subdir.
  std::optional<std::string> UnpackPath(std::string path) const {
    while (!path.empty() && path.back() == '/') path.pop_back();
    const std::string& sub = options_.unpack_subdir;
    if (sub.empty()) return path;
    if (path == sub) return std::string();
    if (path.size() > sub.size() && path.starts_with(sub) && path[sub.size()] == '/') {
      return path.substr(sub.size() + 1);
    }
    return std::nullopt;
  }

  Status CopyData(const std::string& path, const ManifestFile& want) {
    std::unique_ptr<WritableFile> out;
    if (!options_.unpack_dir.empty()) {
      auto rel = UnpackPath(path);
      if (!rel) {
        return Status::Corruption("archive: file outside " + options_.unpack_subdir + "/: " + path);
      }
      std::string parent = fs::path(*rel).parent_path().generic_string();
      if (!parent.empty()) STEMEDB_RETURN_IF_ERROR(MakeDir(parent));
      auto file = options_.env->NewWritableFile(options_.unpack_dir + "/" + *rel);
      if (!file) return file.error();
      out = std::move(*file);
    }
    Sha256 hash;
    uint64_t total = 0;
    for (;;) {
      la_ssize_t n = archive_read_data(a_.get(), buffer_.data(), buffer_.size());
      if (n < 0) return Error(path + " data");
      if (n == 0) break;
      std::string_view piece(buffer_.data(), static_cast<size_t>(n));
      hash.Update(piece);
      total += piece.size();
      if (out) STEMEDB_RETURN_IF_ERROR(out->Append(piece));
    }
    if (total != want.size) return Status::Corruption("archive: " + path + " truncated");
    if (hash.FinalHex() != want.sha256) {
      return Status::Corruption("archive: " + path + " sha256 does not match the manifest");
    }
    summary_.data_bytes += total;
    if (out) {
      STEMEDB_RETURN_IF_ERROR(out->Sync());
      STEMEDB_RETURN_IF_ERROR(out->Close());
    }
    return Status::OK();
  }

  // Creates unpack_dir/rel and remembers it for the final directory fsync.
  Status MakeDir(std::string rel) {
    while (!rel.empty() && rel.back() == '/') rel.pop_back();
    if (rel.empty() || dirs_.contains(rel)) return Status::OK();
    STEMEDB_RETURN_IF_ERROR(options_.env->CreateDirs(options_.unpack_dir + "/" + rel));
    for (fs::path p(rel); !p.empty(); p = p.parent_path()) dirs_.insert(p.generic_string());
    return Status::OK();
  }

  // Reads what follows the end-of-archive marker (tar block padding) so the
  // whole-stream hash covers every byte of the object.
  Status DrainSource() {
    for (;;) {
      auto n = (*ctx_.source)(ctx_.buffer.data(), ctx_.buffer.size());
      if (!n) return n.error().WithContext("archive source");
      if (*n == 0) return Status::OK();
      ctx_.hash.Update(std::string_view(ctx_.buffer.data(), *n));
      ctx_.bytes += *n;
    }
  }

  Status FinishUnpack() {
    // A whole-archive unpack is a data dir the server starts from; an empty
    // wal/ is part of that layout even if the archive omitted its entry.
    if (options_.unpack_subdir.empty()) STEMEDB_RETURN_IF_ERROR(MakeDir(std::string(kWalDir)));
    for (const std::string& d : dirs_) {
      STEMEDB_RETURN_IF_ERROR(options_.env->SyncDir(options_.unpack_dir + "/" + d));
    }
    return options_.env->SyncDir(options_.unpack_dir);
  }

  const ArchiveReadOptions& options_;
  SourceContext ctx_;
  std::unique_ptr<struct archive, ReaderDeleter> a_;
  std::string buffer_ = std::string(kIoChunkBytes, '\0');
  ArchiveSummary summary_;
  std::map<std::string, const ManifestFile*, std::less<>> expected_;
  std::set<std::string, std::less<>> seen_;
  std::set<std::string> dirs_;
};

}  // namespace

void RemoveDirContents(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::error_code ec2;
    fs::remove_all(e.path(), ec2);
  }
}

Status PrepareEmptyDir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Env::Default()->CreateDirs(dir);
  if (!fs::is_directory(dir, ec)) return Status::Conflict(dir + " exists and is not a directory");
  if (!fs::is_empty(dir, ec)) {
    return Status::Conflict(dir + " is not empty; restore only into an empty directory");
  }
  if (ec) return Status::IOError(dir + ": " + ec.message());
  return Status::OK();
}

Result<ArchiveSummary> ReadSnapshotArchive(const ArchiveSource& source,
                                           const ArchiveReadOptions& options) {
  if (!options.unpack_dir.empty()) STEMEDB_RETURN_IF_ERROR(PrepareEmptyDir(options.unpack_dir));
  Reader reader(source, options);
  auto result = reader.Run();
  if (!result && !options.unpack_dir.empty()) RemoveDirContents(options.unpack_dir);
  return result;
}

Result<ArchiveSummary> ReadSnapshotArchiveFile(const std::string& path,
                                               const ArchiveReadOptions& options) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  ArchiveSource source = [fd, &path](char* buf, size_t n) -> Result<size_t> {
    for (;;) {
      ssize_t got = ::read(fd, buf, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return Status::FromErrno("read " + path, errno);
    }
  };
  auto result = ReadSnapshotArchive(source, options);
  ::close(fd);
  return result;
}

}  // namespace stemedb::backup
