// main() for fuzz targets in builds without libFuzzer (g++, the default).
//
//   <target> [--mutations N] [--seed S] DIR_OR_FILE...
//
// Runs every file of the given corpus directories through the target, then
// N deterministic mutations of them (bit flips, byte sets, truncations,
// insertions, splices of two inputs; xorshift seeded with S), so the smoke
// test in ctest exercises more than the seeds without a clang toolchain. A
// crash or FUZZ_CHECK failure aborts; the offending input is written to
// ./fuzz-crash-<target>.bin first so it can be added to the corpus.
//
// This is not a coverage-guided fuzzer; scripts/fuzz.sh runs the real one.
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_target.h"

namespace {

std::string g_target;
const std::string* g_current = nullptr;

void SaveCurrentInput(int sig) {
  if (g_current != nullptr) {
    std::ofstream out("fuzz-crash-" + g_target + ".bin", std::ios::binary);
    out.write(g_current->data(), static_cast<std::streamsize>(g_current->size()));
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

struct Rng {
  uint64_t s;
  uint64_t Next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }
};

std::string Mutate(const std::vector<std::string>& corpus, Rng* rng) {
  std::string in = corpus[rng->Below(corpus.size())];
  int rounds = 1 + static_cast<int>(rng->Below(4));
  for (int r = 0; r < rounds; ++r) {
    switch (rng->Below(6)) {
      case 0:  // flip one bit
        if (!in.empty()) in[rng->Below(in.size())] ^= static_cast<char>(1u << rng->Below(8));
        break;
      case 1:  // set a byte to an interesting value
        if (!in.empty()) {
          static const char kVals[] = {0, '\xff', '\x7f', '\x80', '"', '\\', '{', '\n'};
          in[rng->Below(in.size())] = kVals[rng->Below(sizeof kVals)];
        }
        break;
      case 2:  // truncate
        in.resize(rng->Below(in.size() + 1));
        break;
      case 3:  // insert random bytes
      {
        std::string ins(1 + rng->Below(8), '\0');
        for (char& c : ins) c = static_cast<char>(rng->Next());
        in.insert(rng->Below(in.size() + 1), ins);
        break;
      }
      case 4:  // duplicate a slice
        if (!in.empty()) {
          size_t a = rng->Below(in.size());
          size_t n = 1 + rng->Below(in.size() - a);
          in.insert(rng->Below(in.size() + 1), in.substr(a, n));
        }
        break;
      default:  // splice with another input
      {
        const std::string& other = corpus[rng->Below(corpus.size())];
        in = in.substr(0, rng->Below(in.size() + 1)) + other.substr(rng->Below(other.size() + 1));
        break;
      }
    }
  }
  return in;
}

void Run(const std::string& input) {
  g_current = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  g_current = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  g_target = std::filesystem::path(argv[0]).filename().string();
  size_t mutations = 0;
  uint64_t seed = 0x5eed;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--mutations" && i + 1 < argc) {
      mutations = std::stoul(argv[++i]);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::stoull(argv[++i]);
    } else if (std::filesystem::is_directory(arg)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(arg)) {
        if (!e.is_regular_file()) continue;
        std::ifstream f(e.path(), std::ios::binary);
        corpus.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
      }
    } else {
      std::ifstream f(arg, std::ios::binary);
      if (!f) {
        std::cerr << g_target << ": cannot read " << arg << "\n";
        return 2;
      }
      corpus.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
  }
  if (corpus.empty()) {
    std::cerr << g_target << ": empty corpus (a smoke run of nothing proves nothing)\n";
    return 2;
  }
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, SaveCurrentInput);
  for (const std::string& input : corpus) Run(input);
  Rng rng{seed | 1};
  for (size_t i = 0; i < mutations; ++i) Run(Mutate(corpus, &rng));
  std::cout << g_target << ": " << corpus.size() << " seeds + " << mutations
            << " mutations, no failure\n";
  return 0;
}
