#include "api/startup_guards.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace stemedb::api {
namespace {

std::string Join(const std::string& dir, const char* leaf) {
  if (!dir.empty() && dir.back() == '/') return dir + leaf;
  return dir + "/" + leaf;
}

// Guard 6 for one directory.
Status PrepareOne(Env* env, const char* var, const std::string& dir) {
  Status s = env->CreateDirs(dir);
  if (!s.ok()) {
    return Status::IOError(std::string(var) + " '" + dir +
                           "' is missing and cannot be created: " + s.message());
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::IOError(std::string(var) + " '" + dir + "' is not a directory");
  }
  // access(2) also reports a read-only mount (EROFS), which the mode bits
  // would not show.
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return Status::IOError(std::string(var) + " '" + dir +
                           "' is not writable: " + std::strerror(errno));
  }
  return Status::OK();
}

bool DirectoryEmptyOrMissing(Env* env, const std::string& dir) {
  if (!env->FileExists(dir)) return true;
  auto children = env->GetChildren(dir);
  if (!children) return false;  // can't tell: let EnsureRootKey decide later
  for (const auto& c : *children) {
    if (c != "." && c != "..") return false;
  }
  return true;
}

Status RefuseNoRootKey(const ServerConfig& config) {
  return Status::InvalidArgument(
      "no API key exists and STEMEDB_ROOT_API_KEY is not set; on the non-loopback bind " +
      config.bind_addr + " set STEMEDB_ROOT_API_KEY (steme_live_ + 48 hex) to seed the root key");
}

}  // namespace

std::string RootKeyPath(const ServerConfig& config) { return Join(config.data_dir, "root.key"); }
std::string LockPath(const ServerConfig& config) { return Join(config.data_dir, "LOCK"); }

Status CheckConfig(const ServerConfig& config) {
  if (config.auth_enabled && config.unsafe_skip_signatures) {
    return Status::InvalidArgument(
        "STEMEDB_UNSAFE_SKIP_SIGNATURES=true is only allowed with STEMEDB_AUTH_ENABLED=false");
  }
  if (!config.auth_enabled && !config.loopback_bind()) {
    return Status::InvalidArgument(
        "STEMEDB_AUTH_ENABLED=false is only allowed on a loopback bind, "
        "not STEMEDB_BIND_ADDR=" +
        config.bind_addr);
  }
  if (!config.root_api_key.empty() && !auth::IsWellFormedKey(config.root_api_key)) {
    // Never echo the value: it may be a real key with a stray character.
    return Status::InvalidArgument(
        "STEMEDB_ROOT_API_KEY is malformed: expected steme_live_ followed by 48 lowercase hex "
        "digits (" +
        std::to_string(config.root_api_key.size()) + " characters given)");
  }
  if (config.standby && config.archive_remote.empty()) {
    return Status::InvalidArgument(
        "STEMEDB_STANDBY=true needs STEMEDB_ARCHIVE_REMOTE: the archive it follows (and writes "
        "once promoted)");
  }
  return Status::OK();
}

Status PrepareDirectories(Env* env, const ServerConfig& config) {
  STEMEDB_RETURN_IF_ERROR(PrepareOne(env, "STEMEDB_DATA_DIR", config.data_dir));
  STEMEDB_RETURN_IF_ERROR(PrepareOne(env, "STEMEDB_WAL_DIR", config.wal_dir));
  STEMEDB_RETURN_IF_ERROR(PrepareOne(env, "STEMEDB_DB_DIR", config.db_dir));
  return Status::OK();
}

Result<std::unique_ptr<FileLock>> LockDataDirectory(Env* env, const ServerConfig& config) {
  auto lock = env->LockFile(LockPath(config));
  if (!lock) {
    if (lock.error().code() == Status::Code::kBusy) {
      return Status::Busy("data directory '" + config.data_dir +
                          "' is in use by another stemedb process (lock " + LockPath(config) +
                          " held)");
    }
    return lock.error().WithContext("cannot lock data directory '" + config.data_dir + "'");
  }
  return std::move(*lock);
}

Status CheckRootKeyBeforeOpen(Env* env, const ServerConfig& config) {
  if (!config.auth_enabled || !config.root_api_key.empty() || config.loopback_bind()) {
    return Status::OK();
  }
  if (DirectoryEmptyOrMissing(env, config.db_dir)) return RefuseNoRootKey(config);
  return Status::OK();
}

Result<RootKeyOutcome> EnsureRootKey(Env* env, const ServerConfig& config, auth::KeyStore* keys,
                                     int64_t now_us) {
  RootKeyOutcome out;
  if (!config.root_api_key.empty()) {
    auto seeded = keys->SeedRootKey(config.root_api_key, now_us);
    if (!seeded) return seeded.error().WithContext("seeding STEMEDB_ROOT_API_KEY");
    out.seeded_from_config = *seeded;
    return out;
  }
  if (!config.auth_enabled || !keys->empty()) return out;
  if (!config.loopback_bind()) return RefuseNoRootKey(config);

  // Loopback, nothing to authenticate with: make (or reuse) a root key file
  // so a developer can start the server with no setup. The file is written
  // before the key is seeded, so a crash in between never leaves a seeded
  // key nobody can read.
  out.key_file = RootKeyPath(config);
  std::string key;
  if (env->FileExists(out.key_file)) {
    auto text = ReadFileToString(env, out.key_file);
    if (!text) return text.error().WithContext("reading " + out.key_file);
    key = *text;
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) {
      key.pop_back();
    }
    if (!auth::IsWellFormedKey(key)) {
      return Status::InvalidArgument(out.key_file +
                                     " exists but does not hold a well-formed key; remove it or "
                                     "set STEMEDB_ROOT_API_KEY");
    }
    out.reused_key_file = true;
  } else {
    key = auth::GenerateKey();
    STEMEDB_RETURN_IF_ERROR(WriteFileAtomically(env, out.key_file, key + "\n", 0600));
    out.generated = true;
  }
  auto seeded = keys->SeedRootKey(key, now_us);
  if (!seeded) return seeded.error().WithContext("seeding the root key of " + out.key_file);
  return out;
}

}  // namespace stemedb::api
