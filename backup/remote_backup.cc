#include "backup/remote_backup.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <sstream>

#include "backup/sha256.h"
#include "util/logging.h"

namespace stemedb::backup {

namespace {

constexpr std::string_view kPrefix = "stemedb-";
constexpr std::string_view kSuffix = ".tar";
constexpr std::string_view kSidecarSuffix = ".sha256";
constexpr std::string_view kPartialSuffix = ".partial";

std::string FormatTime(std::chrono::system_clock::time_point time) {
  std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<std::string> FetchSidecar(Rclone& rclone, const std::string& remote_object) {
  auto [dir, name] = SplitRemote(remote_object);
  if (!ParseBackupName(name)) {
    return Status::InvalidArgument(remote_object +
                                   ": not a backup name (stemedb-YYYYmmddTHHMMSSZ-lsnN.tar)");
  }
  auto text = rclone.CatString(remote_object + std::string(kSidecarSuffix), 4096);
  if (!text) return text.error().WithContext("checksum sidecar");
  return ParseSha256Sidecar(*text, name);
}

// Best-effort cleanup of a failed upload. Failure to clean is logged, not
// returned: the caller reports the original error, and a leftover *.partial
// is never mistaken for a backup.
void RemoveQuietly(Rclone& rclone, const std::string& remote) {
  Status s = rclone.DeleteFile(remote);
  if (!s.ok() && s.message().find("not found") == std::string::npos) {
    log::Warn("backup: cannot remove leftover object",
              {{"remote", remote}, {"error", s.message()}});
  }
}

}  // namespace

Result<std::string> ParseSha256Sidecar(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string digest, file;
  in >> digest >> file;
  if (!IsSha256Hex(digest)) return Status::Corruption(name + ".sha256: no SHA-256 digest");
  if (!file.empty() && file != name && file != "*" + name) {
    return Status::Corruption(name + ".sha256 names another file: " + file);
  }
  return digest;
}

std::string MakeBackupName(std::chrono::system_clock::time_point time, uint64_t lsn) {
  return std::string(kPrefix) + FormatTime(time) + "-lsn" + std::to_string(lsn) +
         std::string(kSuffix);
}

std::optional<BackupName> ParseBackupName(const std::string& name) {
  // stemedb-YYYYmmddTHHMMSSZ-lsnN.tar
  std::string_view s(name);
  if (!s.starts_with(kPrefix) || !s.ends_with(kSuffix)) return std::nullopt;
  s.remove_prefix(kPrefix.size());
  s.remove_suffix(kSuffix.size());
  if (s.size() < 21 || s[8] != 'T' || s.substr(15, 5) != "Z-lsn") return std::nullopt;
  std::string_view date = s.substr(0, 8), time = s.substr(9, 6), lsn = s.substr(20);
  if (!AllDigits(date) || !AllDigits(time) || !AllDigits(lsn) || lsn.size() > 19) {
    return std::nullopt;
  }
  std::tm tm{};
  auto num = [](std::string_view d) { return std::stoi(std::string(d)); };
  tm.tm_year = num(date.substr(0, 4)) - 1900;
  tm.tm_mon = num(date.substr(4, 2)) - 1;
  tm.tm_mday = num(date.substr(6, 2));
  tm.tm_hour = num(time.substr(0, 2));
  tm.tm_min = num(time.substr(2, 2));
  tm.tm_sec = num(time.substr(4, 2));
  BackupName out;
  out.name = name;
  out.unix_seconds = static_cast<int64_t>(timegm(&tm));
  out.lsn = std::stoull(std::string(lsn));
  return out;
}

Result<std::vector<BackupName>> ListBackups(Rclone& rclone, const std::string& remote_dir) {
  auto files = rclone.ListFiles(remote_dir);
  if (!files) return files.error();
  std::vector<BackupName> out;
  for (const std::string& f : *files) {
    if (auto parsed = ParseBackupName(f)) out.push_back(std::move(*parsed));
  }
  // Numeric order: "lsn9" must sort before "lsn10" within one second.
  std::sort(out.begin(), out.end(), [](const BackupName& a, const BackupName& b) {
    return std::tie(a.unix_seconds, a.lsn, a.name) < std::tie(b.unix_seconds, b.lsn, b.name);
  });
  return out;
}

Result<std::vector<std::string>> PruneBackups(Rclone& rclone, const std::string& remote_dir,
                                              size_t keep) {
  if (keep == 0) return Status::InvalidArgument("retention must keep at least one backup");
  auto list = ListBackups(rclone, remote_dir);
  if (!list) return list.error();
  std::vector<std::string> pruned;
  for (size_t i = 0; i + keep < list->size(); ++i) {
    const std::string& name = (*list)[i].name;
    // The archive goes first: a sidecar without its archive is inert, an
    // archive without its sidecar would fail verification.
    STEMEDB_RETURN_IF_ERROR(rclone.DeleteFile(JoinRemote(remote_dir, name)));
    STEMEDB_RETURN_IF_ERROR(
        rclone.DeleteFile(JoinRemote(remote_dir, name + std::string(kSidecarSuffix))));
    pruned.push_back(name);
  }
  return pruned;
}

Result<UploadResult> UploadBackup(Rclone& rclone, const ArchiveProducer& producer,
                                  const UploadOptions& options) {
  if (options.remote_dir.empty()) return Status::InvalidArgument("remote path required");
  const auto now = options.now.value_or(std::chrono::system_clock::now());
  const std::string stamp = FormatTime(now);
  const std::string partial =
      JoinRemote(options.remote_dir,
                 std::string(kPrefix) + stamp + std::string(kSuffix) + std::string(kPartialSuffix));

  // 1. Upload, hashing what passes through.
  Sha256 hash;
  uint64_t bytes = 0;
  Status up = rclone.Rcat(partial, [&](const ChunkSink& sink) {
    return producer([&](std::string_view chunk) {
      hash.Update(chunk);
      bytes += chunk.size();
      return sink(chunk);
    });
  });
  if (!up.ok()) {
    RemoveQuietly(rclone, partial);
    return up.WithContext("upload");
  }
  UploadResult result;
  result.bytes = bytes;
  result.sha256 = hash.FinalHex();

  // 2. Read back through the verifier: the stored object, not what we sent.
  ArchiveSummary summary;
  Status checked = rclone.Cat(partial, [&](const ArchiveSource& source) -> Status {
    ArchiveReadOptions read;
    read.expected_sha256 = result.sha256;
    auto s = ReadSnapshotArchive(source, read);
    if (!s) return s.error();
    summary = std::move(*s);
    return Status::OK();
  });
  if (checked.ok() && summary.archive_bytes != bytes) {
    checked = Status::Corruption("uploaded object has " + std::to_string(summary.archive_bytes) +
                                 " bytes, sent " + std::to_string(bytes));
  }
  if (!checked.ok()) {
    RemoveQuietly(rclone, partial);
    return checked.WithContext("verify upload");
  }
  result.snapshot_lsn = summary.manifest.snapshot_lsn;
  result.name = MakeBackupName(now, result.snapshot_lsn);
  result.remote = JoinRemote(options.remote_dir, result.name);

  // 3. Sidecar, then the final name.
  auto existing = rclone.ListFiles(options.remote_dir);
  if (existing && std::find(existing->begin(), existing->end(), result.name) != existing->end()) {
    RemoveQuietly(rclone, partial);
    return Status::Conflict(result.remote +
                            " already exists (two backups of one LSN in one second)");
  }
  const std::string sidecar = result.remote + std::string(kSidecarSuffix);
  Status final_step = rclone.RcatString(sidecar, result.sha256 + "  " + result.name + "\n");
  if (final_step.ok()) final_step = rclone.MoveTo(partial, result.remote);
  if (!final_step.ok()) {
    RemoveQuietly(rclone, partial);
    RemoveQuietly(rclone, sidecar);
    return final_step.WithContext("finalize");
  }
  log::Info("backup: uploaded", {{"remote", result.remote},
                                 {"snapshot_lsn", std::to_string(result.snapshot_lsn)},
                                 {"bytes", std::to_string(result.bytes)}});

  // 4. Retention. The new backup is complete whatever happens here.
  if (options.keep > 0) {
    auto pruned = PruneBackups(rclone, options.remote_dir, options.keep);
    if (!pruned) return pruned.error().WithContext("backup " + result.name + " done, but prune");
    result.pruned = std::move(*pruned);
  }
  return result;
}

Result<ArchiveSummary> VerifyBackup(Rclone& rclone, const std::string& remote_object) {
  auto digest = FetchSidecar(rclone, remote_object);
  if (!digest) return digest.error();
  ArchiveSummary summary;
  Status s = rclone.Cat(remote_object, [&](const ArchiveSource& source) -> Status {
    ArchiveReadOptions read;
    read.expected_sha256 = *digest;
    auto r = ReadSnapshotArchive(source, read);
    if (!r) return r.error();
    summary = std::move(*r);
    return Status::OK();
  });
  if (!s.ok()) return s;
  return summary;
}

Result<RestoreResult> RestoreBackup(Rclone& rclone, const RestoreOptions& options) {
  if (options.remote_object.empty() == options.latest_in.empty()) {
    return Status::InvalidArgument(
        "restore needs either a backup or a directory to take the latest from");
  }
  // Refuse a bad target before spending a download on it.
  auto state = InspectRestoreTarget(options.env, options.target);
  if (!state) return state.error();
  RestoreResult result;
  result.remote = options.remote_object;
  if (!options.latest_in.empty()) {
    std::string dir = options.latest_in;
    while (dir.size() > 1 && dir.back() == '/' && dir[dir.size() - 2] != ':') dir.pop_back();
    if (state->state == RestoreTargetState::kRestored &&
        SplitRemote(state->marker->backup).first == dir) {
      result.remote = state->marker->backup;
      result.outcome.already_restored = true;
      result.outcome.marker = *state->marker;
      return result;
    }
    auto list = ListBackups(rclone, dir);
    if (!list) return list.error().WithContext("listing " + dir);
    if (list->empty()) return Status::NotFound("no complete backup in " + dir);
    result.remote = JoinRemote(dir, list->back().name);
  }
  auto digest = FetchSidecar(rclone, result.remote);
  if (!digest) return digest.error();
  RestoreRequest request;
  request.target = options.target;
  request.backup = result.remote;
  request.expected_sha256 = *digest;
  request.env = options.env;
  auto outcome = RestoreSnapshot(
      request, [&](const auto& consumer) { return rclone.Cat(result.remote, consumer); });
  if (!outcome) return outcome.error();
  result.outcome = std::move(*outcome);
  return result;
}

}  // namespace stemedb::backup
