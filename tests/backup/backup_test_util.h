// Helpers shared by the backup tests: temp dirs, archives on disk, damage,
// and (for the suites that run the real server) acknowledged writes checked
// against a restored or promoted server, a metric read off a server, and a
// WebDAV remote served by rclone.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "backup/archive_writer.h"
#include "backup/child_process.h"
#include "backup/rclone.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"

namespace stemedb::backup::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/stemedb-backup-test-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    EXPECT_NE(p, nullptr);
    path_ = p ? p : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& data) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// A directory shaped like a RocksDB checkpoint: a few files of assorted
// sizes (one empty, one spanning several 1 MiB read chunks).
inline void MakeFakeCheckpoint(const std::string& dir) {
  WriteFile(dir + "/CURRENT", "MANIFEST-000005\n");
  WriteFile(dir + "/MANIFEST-000005", RandomBytes(300, 1));
  WriteFile(dir + "/OPTIONS-000007", "");
  WriteFile(dir + "/000009.sst", RandomBytes((2 << 20) + 123, 2));
  WriteFile(dir + "/000010.sst", RandomBytes(4096, 3));
}

// Writes the archive of `dir` to `archive_path`; returns the archive size.
inline uint64_t ArchiveToFile(const std::string& dir, uint64_t lsn,
                              const std::string& archive_path) {
  std::ofstream out(archive_path, std::ios::binary | std::ios::trunc);
  auto info = WriteCheckpointArchive(dir, lsn, "test", [&](std::string_view chunk) {
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    return out.good() ? Status::OK() : Status::IOError("write");
  });
  EXPECT_TRUE(info) << (info ? "" : info.error().ToString());
  out.close();
  return info ? info->bytes : 0;
}

inline void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
  ASSERT_TRUE(f.good());
}

inline bool DirIsEmpty(const std::string& dir) {
  return std::filesystem::is_directory(dir) && std::filesystem::is_empty(dir);
}

// An acknowledged write: its LSN, the value written, and when its 201 arrived.
struct Acked {
  uint64_t lsn = 0;
  int value = 0;
  std::chrono::steady_clock::time_point at;
};

// Exactly the assertions of `acked` (by id) with lsn <= `through` are on
// `server`, read with `key`, with their values; the later ones are not.
inline void ExpectExactly(e2e::ServerProcess& server, const std::string& key,
                          const std::map<std::string, Acked>& acked, uint64_t through) {
  auto http = server.Client();
  size_t present = 0;
  for (const auto& [id, a] : acked) {
    auto r = http->Request("GET", "/v1/assertions/" + id, {}, e2e::Auth(key));
    ASSERT_TRUE(r) << r.error().ToString();
    if (a.lsn <= through) {
      ASSERT_EQ(r->status, 200) << id << " lsn " << a.lsn << " through " << through;
      EXPECT_EQ(e2e::ParseJson(r->body).at("value").to_number<int>(), a.value);
      ++present;
    } else {
      ASSERT_EQ(r->status, 404) << id << " lsn " << a.lsn << " through " << through;
    }
  }
  EXPECT_GT(present, 0u);
}

// The value of the unlabelled metric `name` on `server`'s /metrics, or -1.
inline double Metric(e2e::ServerProcess& server, const std::string& name) {
  auto r = server.Client()->Request("GET", "/metrics", {}, {});
  if (!r || r->status != 200) return -1;
  const std::string line = "\n" + name + " ";
  const size_t at = r->body.find(line);
  return at == std::string::npos ? -1 : std::stod(r->body.substr(at + line.size()));
}

// `rclone serve webdav` of `dir` on 127.0.0.1:`port` (the remote "dav:" once
// RCLONE_CONFIG_DAV_* point at it): a network remote that can go away.
// Returns once a listing works.
inline std::unique_ptr<ChildProcess> ServeWebdav(const std::string& dir, uint16_t port) {
  ChildOptions o;
  o.argv = {"rclone", "serve", "webdav", dir, "--addr", "127.0.0.1:" + std::to_string(port)};
  auto child = ChildProcess::Start(o);
  EXPECT_TRUE(child) << child.error().ToString();
  if (!child) return nullptr;
  Rclone rclone;
  for (int i = 0; i < 100 && !rclone.ListFiles("dav:").has_value(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::move(*child);
}

}  // namespace stemedb::backup::testing
