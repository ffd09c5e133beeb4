#include "backup/manifest.h"

#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <set>

#include "backup/sha256.h"

namespace stemedb::backup {

namespace json = boost::json;

std::string Manifest::ToJson() const {
  json::array files_json;
  for (const ManifestFile& f : files) {
    files_json.push_back(json::object{{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
  }
  json::object obj{{"format_version", format_version},
                   {"snapshot_lsn", snapshot_lsn},
                   {"created_at", created_at},
                   {"server_version", server_version},
                   {"files", std::move(files_json)}};
  return json::serialize(obj) + "\n";
}

namespace {

Result<uint64_t> GetUint(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) return Status::Corruption("manifest: missing \"" + std::string(key) + "\"");
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64() && v->as_int64() >= 0) return static_cast<uint64_t>(v->as_int64());
  return Status::Corruption("manifest: \"" + std::string(key) + "\" is not a non-negative integer");
}

Result<std::string> GetString(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    return Status::Corruption("manifest: missing or non-string \"" + std::string(key) + "\"");
  }
  return std::string(v->as_string());
}

}  // namespace

Result<Manifest> Manifest::Parse(std::string_view text) {
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return Status::Corruption("manifest: invalid JSON: " + ec.message());
  if (!root.is_object()) return Status::Corruption("manifest: not a JSON object");
  const json::object& obj = root.as_object();

  Manifest m;
  auto version = GetUint(obj, "format_version");
  if (!version) return version.error();
  if (*version != static_cast<uint64_t>(kManifestFormatVersion)) {
    // A newer format may change the layout: restoring it blindly could
    // produce a data dir the server misreads.
    return Status::Corruption("manifest: unsupported format_version " + std::to_string(*version));
  }
  m.format_version = kManifestFormatVersion;
  auto lsn = GetUint(obj, "snapshot_lsn");
  if (!lsn) return lsn.error();
  m.snapshot_lsn = *lsn;
  auto created = GetString(obj, "created_at");
  if (!created) return created.error();
  m.created_at = *created;
  auto version_text = GetString(obj, "server_version");
  if (!version_text) return version_text.error();
  m.server_version = *version_text;

  const json::value* files = obj.if_contains("files");
  if (files == nullptr || !files->is_array()) {
    return Status::Corruption("manifest: missing or non-array \"files\"");
  }
  std::set<std::string, std::less<>> seen;
  for (const json::value& entry : files->as_array()) {
    if (!entry.is_object()) return Status::Corruption("manifest: file entry is not an object");
    ManifestFile f;
    auto path = GetString(entry.as_object(), "path");
    if (!path) return path.error();
    f.path = *path;
    if (!IsSafeArchivePath(f.path) || f.path.back() == '/' || f.path == kManifestName) {
      return Status::Corruption("manifest: unsafe or invalid path \"" + f.path + "\"");
    }
    if (!seen.insert(f.path).second) {
      return Status::Corruption("manifest: duplicate path \"" + f.path + "\"");
    }
    auto size = GetUint(entry.as_object(), "size");
    if (!size) return size.error();
    f.size = *size;
    auto digest = GetString(entry.as_object(), "sha256");
    if (!digest) return digest.error();
    if (!IsSha256Hex(*digest)) {
      return Status::Corruption("manifest: bad sha256 for \"" + f.path + "\"");
    }
    f.sha256 = *digest;
    m.files.push_back(std::move(f));
  }
  return m;
}

bool IsSafeArchivePath(std::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  if (path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return false;
  for (char c : path) {
    if (c == '\0' || c == '\\') return false;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string NowRfc3339() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace stemedb::backup
