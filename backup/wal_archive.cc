#include "backup/wal_archive.h"

#include <algorithm>
#include <cstdio>

#include "backup/remote_backup.h"
#include "backup/sha256.h"
#include "util/hex.h"
#include "wal/log_format.h"
#include "wal/log_reader.h"

namespace stemedb::backup {

namespace {

constexpr std::string_view kSegmentSuffix = ".wal";

std::string Hex16(uint64_t lsn) {
  // wal/log_format.h owns the 16-digit form of an LSN in a segment name.
  return wal::SegmentFileName(lsn).substr(0, kHex64Digits);
}

}  // namespace

std::string ArchivedSegmentName(uint64_t first_lsn, uint64_t last_lsn, uint64_t epoch) {
  std::string name = Hex16(first_lsn) + "-" + Hex16(last_lsn);
  if (epoch > 1) name += "-" + Hex16(epoch);
  return name + std::string(kSegmentSuffix);
}

std::optional<ArchivedSegment> ParseArchivedSegmentName(std::string_view name) {
  constexpr size_t kPlain = 2 * kHex64Digits + 1;
  if (!name.ends_with(kSegmentSuffix)) return std::nullopt;
  const std::string_view stem = name.substr(0, name.size() - kSegmentSuffix.size());
  if ((stem.size() != kPlain && stem.size() != kPlain + 1 + kHex64Digits) ||
      stem[kHex64Digits] != '-') {
    return std::nullopt;
  }
  ArchivedSegment out;
  if (!ParseHex64(stem.substr(0, kHex64Digits), &out.first_lsn) ||
      !ParseHex64(stem.substr(kHex64Digits + 1, kHex64Digits), &out.last_lsn) ||
      out.first_lsn == 0 || out.last_lsn < out.first_lsn) {
    return std::nullopt;
  }
  if (stem.size() > kPlain &&
      (stem[kPlain] != '-' || !ParseHex64(stem.substr(kPlain + 1), &out.epoch) || out.epoch < 2)) {
    return std::nullopt;
  }
  out.name = std::string(name);
  return out;
}

std::string WalArchiveRemote(const std::string& remote_dir) {
  return JoinRemote(remote_dir, std::string(kWalArchiveDir));
}

namespace {

constexpr std::string_view kEpochMagic = "stemedb-writer-epoch 1";

std::string EpochRemote(const std::string& remote_dir) {
  return JoinRemote(remote_dir, std::string(kWriterEpochDir));
}

std::optional<uint64_t> ParseEpochName(std::string_view name) {
  uint64_t epoch = 0;
  if (name.size() != kHex64Digits || !ParseHex64(name, &epoch) || epoch < 2) return std::nullopt;
  return epoch;
}

}  // namespace

std::string EncodeWriterEpoch(const WriterEpoch& e) {
  return std::string(kEpochMagic) + "\nepoch " + std::to_string(e.epoch) + "\nfirst_lsn " +
         std::to_string(e.first_lsn) + "\n";
}

Result<WriterEpoch> DecodeWriterEpoch(std::string_view text) {
  WriterEpoch e;
  unsigned long long epoch = 0, first = 0;
  int consumed = 0;
  const std::string copy(text);
  if (!text.starts_with(kEpochMagic) ||
      std::sscanf(copy.c_str() + kEpochMagic.size(), "\nepoch %llu\nfirst_lsn %llu\n%n", &epoch,
                  &first, &consumed) != 2 ||
      static_cast<size_t>(consumed) + kEpochMagic.size() != copy.size() || epoch < 2 || first < 1) {
    return Status::Corruption("not a writer epoch record");
  }
  e.epoch = epoch;
  e.first_lsn = first;
  return e;
}

Result<uint64_t> HighestWriterEpoch(Rclone& rclone, const std::string& remote_dir) {
  auto files = rclone.ListFiles(EpochRemote(remote_dir));
  if (!files) return files.error().WithContext("listing " + EpochRemote(remote_dir));
  uint64_t highest = 1;
  for (const std::string& f : *files) {
    if (auto e = ParseEpochName(f)) highest = std::max(highest, *e);
  }
  return highest;
}

Result<std::vector<WriterEpoch>> ListWriterEpochs(Rclone& rclone, const std::string& remote_dir) {
  const std::string dir = EpochRemote(remote_dir);
  auto files = rclone.ListFiles(dir);
  if (!files) return files.error().WithContext("listing " + dir);
  std::vector<WriterEpoch> chain{WriterEpoch{}};
  std::vector<uint64_t> epochs;
  for (const std::string& f : *files) {
    if (auto e = ParseEpochName(f)) epochs.push_back(*e);
  }
  std::sort(epochs.begin(), epochs.end());
  for (uint64_t epoch : epochs) {
    const std::string object = JoinRemote(dir, Hex16(epoch));
    auto text = rclone.CatString(object, 4096);
    if (!text) return text.error().WithContext("reading " + object);
    auto e = DecodeWriterEpoch(*text);
    if (!e) return e.error().WithContext(object);
    if (e->epoch != epoch || e->first_lsn < chain.back().first_lsn) {
      return Status::Corruption(object + ": epoch " + std::to_string(e->epoch) + " from lsn " +
                                std::to_string(e->first_lsn) + " does not continue the chain");
    }
    chain.push_back(*e);
  }
  return chain;
}

Status WriteWriterEpoch(Rclone& rclone, const std::string& remote_dir, const WriterEpoch& e) {
  const std::string object = JoinRemote(EpochRemote(remote_dir), Hex16(e.epoch));
  auto highest = HighestWriterEpoch(rclone, remote_dir);
  if (!highest) return highest.error();
  if (*highest >= e.epoch) {
    return Status::Conflict("writer epoch " + std::to_string(*highest) + " already exists in " +
                            EpochRemote(remote_dir));
  }
  const std::string text = EncodeWriterEpoch(e);
  const std::string partial = object + ".partial";
  Status s = rclone.RcatString(partial, text);
  if (s.ok()) {
    auto back = rclone.CatString(partial, 4096);
    if (!back) {
      s = back.error();
    } else if (*back != text) {
      s = Status::Corruption(partial + ": the remote stored something else");
    }
  }
  if (s.ok()) s = rclone.MoveTo(partial, object);
  if (!s.ok()) {
    (void)rclone.DeleteFile(partial);
    return s.WithContext("writing " + object);
  }
  return Status::OK();
}

Result<std::vector<ArchivedSegment>> ListArchivedSegments(Rclone& rclone,
                                                          const std::string& remote_dir) {
  auto epochs = ListWriterEpochs(rclone, remote_dir);
  if (!epochs) return epochs.error();
  auto files = rclone.ListFiles(WalArchiveRemote(remote_dir));
  if (!files) return files.error();
  std::vector<ArchivedSegment> out;
  for (const std::string& f : *files) {
    auto parsed = ParseArchivedSegmentName(f);
    if (!parsed) continue;
    // Its epoch's range: [first_lsn, the next epoch's first_lsn).
    auto it = std::find_if(epochs->begin(), epochs->end(),
                           [&](const WriterEpoch& e) { return e.epoch == parsed->epoch; });
    if (it == epochs->end() || parsed->first_lsn < it->first_lsn) continue;
    if (std::next(it) != epochs->end() && parsed->last_lsn >= std::next(it)->first_lsn) continue;
    out.push_back(std::move(*parsed));
  }
  std::sort(out.begin(), out.end(), [](const ArchivedSegment& a, const ArchivedSegment& b) {
    return std::tie(a.first_lsn, a.last_lsn) < std::tie(b.first_lsn, b.last_lsn);
  });
  std::vector<ArchivedSegment> longest;
  for (ArchivedSegment& a : out) {
    if (!longest.empty() && longest.back().first_lsn == a.first_lsn) longest.pop_back();
    longest.push_back(std::move(a));
  }
  return longest;
}

Result<PruneResult> PruneArchive(Rclone& rclone, const std::string& remote_dir,
                                 std::chrono::system_clock::time_point cutoff) {
  auto bases = ListBackups(rclone, remote_dir);  // oldest first
  if (!bases) return bases.error();
  if (bases->empty()) {
    return Status::NotFound("no base backup in " + remote_dir +
                            ": the archive is all there is, nothing is pruned");
  }
  const int64_t cutoff_s =
      std::chrono::duration_cast<std::chrono::seconds>(cutoff.time_since_epoch()).count();
  const BackupName* floor = &bases->front();
  for (const BackupName& b : *bases) {
    if (b.unix_seconds <= cutoff_s && b.lsn >= floor->lsn) floor = &b;
  }
  PruneResult result;
  result.floor_lsn = floor->lsn;
  result.floor_base = floor->name;
  // Every file by its own name: superseded objects are not in
  // ListArchivedSegments, and a sidecar or .partial left by an interrupted
  // run must go too once below the floor.
  const std::string dir = WalArchiveRemote(remote_dir);
  auto files = rclone.ListFiles(dir);
  if (!files) return files.error();
  std::vector<std::string> objects, others;
  for (const std::string& f : *files) {
    std::string_view name(f);
    const bool extra = name.ends_with(".sha256") || name.ends_with(".partial");
    if (extra) name = name.substr(0, name.rfind('.'));
    auto seg = ParseArchivedSegmentName(name);
    if (!seg || seg->last_lsn > result.floor_lsn) continue;
    (extra ? others : objects).push_back(f);
  }
  std::sort(objects.begin(), objects.end());
  std::sort(others.begin(), others.end());
  // Objects first: a sidecar without its object is inert, and a retry
  // finds it here again.
  for (const std::string& f : objects) {
    STEMEDB_RETURN_IF_ERROR(rclone.DeleteFile(JoinRemote(dir, f)));
    result.deleted.push_back(f);
  }
  for (const std::string& f : others)
    STEMEDB_RETURN_IF_ERROR(rclone.DeleteFile(JoinRemote(dir, f)));
  return result;
}

Status FetchArchivedSegment(Rclone& rclone, Env* env, const std::string& remote_dir,
                            const ArchivedSegment& segment, const std::string& local_path) {
  const std::string object = JoinRemote(WalArchiveRemote(remote_dir), segment.name);
  auto sidecar = rclone.CatString(object + ".sha256", 4096);
  if (!sidecar) {
    // An archived name without its sidecar was not put there by the archiver.
    if (sidecar.error().message().find("not found") != std::string::npos) {
      return Status::Corruption(object + ": its checksum sidecar is missing");
    }
    return sidecar.error().WithContext("checksum sidecar of " + object);
  }
  auto expected = ParseSha256Sidecar(*sidecar, segment.name);
  if (!expected) return expected.error().WithContext(object);
  auto file = env->NewWritableFile(local_path);
  if (!file) return file.error();
  Sha256 hash;
  Status s = rclone.Cat(object, [&](const ArchiveSource& source) -> Status {
    std::string buf(1 << 20, '\0');
    for (;;) {
      auto n = source(buf.data(), buf.size());
      if (!n) return n.error();
      if (*n == 0) return Status::OK();
      std::string_view chunk(buf.data(), *n);
      hash.Update(chunk);
      STEMEDB_RETURN_IF_ERROR((*file)->Append(chunk));
    }
  });
  if (s.ok()) s = (*file)->Sync();
  Status c = (*file)->Close();
  if (s.ok()) s = c;
  if (!s.ok()) return s.WithContext("fetching " + object);
  const std::string actual = hash.FinalHex();
  if (actual != *expected) {
    return Status::Corruption(object + ": SHA-256 " + actual + " does not match its sidecar (" +
                              *expected + ")");
  }
  return Status::OK();
}

Result<std::optional<uint64_t>> ScanArchivedSegment(
    Rclone& rclone, Env* env, const std::string& remote_dir, const ArchivedSegment& segment,
    const std::string& local_path, uint64_t prev_last_lsn,
    const std::function<Result<bool>(uint64_t lsn, std::string_view payload)>& fn) {
  const std::string object = JoinRemote(WalArchiveRemote(remote_dir), segment.name);
  STEMEDB_RETURN_IF_ERROR(FetchArchivedSegment(rclone, env, remote_dir, segment, local_path));
  auto size = env->GetFileSize(local_path);
  if (!size) return size.error();
  auto file = env->NewSequentialFile(local_path);
  if (!file) return file.error();
  wal::LogReader reader(std::move(*file), object, *size);
  wal::SegmentHeader header;
  Status io;
  if (reader.ReadHeader(&header, &io) != wal::LogReader::Outcome::kRecord) {
    if (!io.ok()) return io;
    return Status::Corruption(object + " offset 0: " + reader.reason());
  }
  if (header.first_lsn != segment.first_lsn ||
      (prev_last_lsn != 0 && header.prev_last_lsn != prev_last_lsn)) {
    return Status::Corruption(object + ": its header (first lsn " +
                              std::to_string(header.first_lsn) + ", previous segment ends at " +
                              std::to_string(header.prev_last_lsn) +
                              ") does not continue the chain");
  }
  uint64_t lsn = 0, last_seen = segment.first_lsn - 1;
  std::string_view payload;
  wal::LogReader::Outcome outcome;
  std::optional<uint64_t> stopped_at;
  for (;;) {
    const uint64_t record_start = reader.valid_end();
    outcome = reader.Next(&lsn, &payload, &io);
    if (outcome != wal::LogReader::Outcome::kRecord) break;
    if (lsn > segment.last_lsn) {
      return Status::Corruption(object + ": holds lsn " + std::to_string(lsn) +
                                " past the last its name says, " +
                                std::to_string(segment.last_lsn));
    }
    auto more = fn(lsn, payload);
    if (!more) return more.error();
    if (!*more) {
      stopped_at = record_start;
      break;
    }
    last_seen = lsn;
  }
  if (stopped_at) return stopped_at;
  if (!io.ok()) return io;
  if (outcome == wal::LogReader::Outcome::kBad) {
    return Status::Corruption(object + " offset " + std::to_string(reader.bad_offset()) + ": " +
                              reader.reason());
  }
  if (last_seen != segment.last_lsn) {
    return Status::Corruption(object + ": holds records up to lsn " + std::to_string(last_seen) +
                              ", its name says " + std::to_string(segment.last_lsn));
  }
  return std::optional<uint64_t>();
}

Status ReadArchivedSegment(
    Rclone& rclone, Env* env, const std::string& remote_dir, const ArchivedSegment& segment,
    const std::string& local_path, uint64_t prev_last_lsn,
    const std::function<Status(uint64_t lsn, std::string_view payload)>& fn) {
  auto cut = ScanArchivedSegment(rclone, env, remote_dir, segment, local_path, prev_last_lsn,
                                 [&](uint64_t lsn, std::string_view payload) -> Result<bool> {
                                   STEMEDB_RETURN_IF_ERROR(fn(lsn, payload));
                                   return true;
                                 });
  if (!cut) return cut.error();
  return Status::OK();
}

}  // namespace stemedb::backup
