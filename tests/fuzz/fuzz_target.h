// The one entry point every fuzz target defines (libFuzzer's signature), so
// the same file links either with libFuzzer (scripts/fuzz.sh, clang
// -fsanitize=fuzzer) or with corpus_replay_main.cc (the default g++ build,
// where ctest replays the seed corpus plus deterministic mutations of it).
//
// A target must never crash, hang or leak on any input, and checks its own
// invariants with FUZZ_CHECK (abort with a message: libFuzzer saves the input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)
