#include "wal/segment_scan.h"

#include <algorithm>

#include "util/logging.h"
#include "wal/log_format.h"

namespace stemedb::wal {

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

Result<std::vector<std::string>> ListSegments(Env* env, const std::string& dir) {
  auto children = env->GetChildren(dir);
  if (!children) return children.error();
  std::vector<std::pair<uint64_t, std::string>> found;
  for (auto& name : *children) {
    uint64_t lsn;
    if (ParseSegmentFileName(name, &lsn)) found.emplace_back(lsn, std::move(name));
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  out.reserve(found.size());
  for (auto& [lsn, name] : found) out.push_back(std::move(name));
  return out;
}

Status ScanSegment(Env* env, const std::string& dir, const std::string& name, SegmentScan* out) {
  *out = SegmentScan();
  out->name = name;
  if (!ParseSegmentFileName(name, &out->name_lsn)) {
    return Status::InvalidArgument(name + ": not a segment file name");
  }
  out->last_lsn = out->name_lsn == 0 ? 0 : out->name_lsn - 1;
  const std::string path = JoinPath(dir, name);
  auto size = env->GetFileSize(path);
  if (!size) return size.error();
  out->file_size = *size;
  auto file = env->NewSequentialFile(path);
  if (!file) return file.error();
  LogReader reader(std::move(*file), name, *size);

  auto mark_bad = [&](uint64_t offset, std::string reason) {
    out->damaged = true;
    out->bad_offset = offset;
    out->reason = std::move(reason);
  };

  Status io;
  if (reader.ReadHeader(&out->header, &io) != LogReader::Outcome::kRecord) {
    if (!io.ok()) return io;
    mark_bad(0, reader.reason());
  } else if (out->header.first_lsn != out->name_lsn) {
    mark_bad(0, "segment header first_lsn " + std::to_string(out->header.first_lsn) +
                    " does not match the file name");
  } else {
    out->header_ok = true;
    for (;;) {
      uint64_t lsn;
      std::string_view payload;
      LogReader::Outcome o = reader.Next(&lsn, &payload, &io);
      if (!io.ok()) return io;
      if (o == LogReader::Outcome::kRecord) {
        out->records++;
        out->last_lsn = lsn;
        continue;
      }
      if (o == LogReader::Outcome::kBad) mark_bad(reader.bad_offset(), reader.reason());
      break;
    }
  }
  out->valid_end = out->header_ok ? reader.valid_end() : 0;
  out->nonzero_end = out->valid_end;
  if (out->header_ok) {
    STEMEDB_RETURN_IF_ERROR(reader.ScanTail(&out->nonzero_end));
  } else {
    // The header itself is bad: everything from 0 is suspect. Rescan from the
    // start with a fresh reader for the extent of non-zero bytes.
    auto again = env->NewSequentialFile(path);
    if (!again) return again.error();
    LogReader tail(std::move(*again), name, *size);
    STEMEDB_RETURN_IF_ERROR(tail.ScanTail(&out->nonzero_end));
  }
  if (!out->damaged && out->nonzero_end > out->valid_end) {
    // A zero record header followed by data: a write landed out of order
    // (torn) or bytes were overwritten. Either way the log ends before it.
    mark_bad(out->valid_end, "non-zero bytes after the end of the records");
  }
  return Status::OK();
}

namespace {

Status CopyRange(Env* env, const std::string& path, uint64_t from, uint64_t to,
                 const std::string& target) {
  auto file = env->NewSequentialFile(path);
  if (!file) return file.error();
  STEMEDB_RETURN_IF_ERROR((*file)->Skip(from));
  std::string data(static_cast<size_t>(to - from), '\0');
  std::string_view got;
  STEMEDB_RETURN_IF_ERROR((*file)->Read(data.size(), &got, data.data()));
  return WriteFileAtomically(env, target, got);
}

}  // namespace

Status CutTornTail(Env* env, const std::string& dir, const SegmentScan& scan) {
  const std::string path = JoinPath(dir, scan.name);
  if (scan.nonzero_end > scan.valid_end) {
    std::string target = path + std::string(kBrokenSuffix);
    for (int n = 1; env->FileExists(target); n++) {
      target = path + std::string(kBrokenSuffix) + "." + std::to_string(n);
    }
    STEMEDB_RETURN_IF_ERROR(CopyRange(env, path, scan.valid_end, scan.nonzero_end, target));
  }
  log::Warn("wal tail truncated",
            {{"segment", path},
             {"offset", std::to_string(scan.bad_offset)},
             {"reason", scan.reason},
             {"new_end", std::to_string(scan.valid_end)},
             {"bytes_moved_aside", std::to_string(scan.nonzero_end - scan.valid_end)}});
  if (!scan.header_ok) {
    STEMEDB_RETURN_IF_ERROR(env->RemoveFile(path));
    return env->SyncDir(dir);
  }
  STEMEDB_RETURN_IF_ERROR(env->TruncateFile(path, scan.valid_end));
  // ftruncate is metadata: make it durable before anything is appended after.
  auto file = env->ReopenWritableFile(path, scan.valid_end);
  if (!file) return file.error();
  STEMEDB_RETURN_IF_ERROR((*file)->Sync());
  return (*file)->Close();
}

}  // namespace stemedb::wal
