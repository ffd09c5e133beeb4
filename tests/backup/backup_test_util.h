// Helpers shared by the backup tests: temp dirs, archives on disk, damage.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "backup/archive_writer.h"

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

}  // namespace stemedb::backup::testing
