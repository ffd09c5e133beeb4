// Directory listings for tests that must prove what a step did (or did not)
// write: a refused start, a failed restore, a pruned remote.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace stemedb::testing {

// The names directly in `dir`, sorted; none if it is missing.
inline std::vector<std::string> DirNames(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    out.push_back(e.path().filename());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Every path below each of `dirs` with its size (directories: -1), so two
// listings compare equal only if nothing was created, removed or resized.
inline std::map<std::string, intmax_t> TreeListing(const std::vector<std::string>& dirs) {
  namespace fs = std::filesystem;
  std::map<std::string, intmax_t> out;
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      out[it->path().string()] =
          it->is_directory() ? -1 : static_cast<intmax_t>(fs::file_size(it->path()));
    }
  }
  return out;
}

}  // namespace stemedb::testing
