#!/usr/bin/env bash
# Configures and builds the shipped configuration: the one definition of it.
# scripts/run.sh, the Dockerfile's build stage, scripts/test.sh (CI: the
# userpath and image tests run these binaries) and bench/compare build with it.
# Usage: scripts/build-release.sh [BUILD_DIR] [extra cmake args...]
#   default BUILD_DIR: build-release (the directory scripts/run.sh runs from)
#
# Release, no tests, no benchmarks, and no test failpoints in a shipped binary.
# Every option is spelled out, so a directory configured otherwise before (a
# sanitizer, libFuzzer) comes back to exactly this. Extra arguments come last
# and win: bench/compare adds -DSTEMEDB_BUILD_BENCH=ON for its load generator,
# which adds targets but compiles the server the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build-release}
shift || true
CMAKE_BUILD_TYPE=Release STEMEDB_SANITIZE= exec scripts/build.sh "$build_dir" \
  -DSTEMEDB_BUILD_TESTS=OFF -DSTEMEDB_BUILD_BENCH=OFF -DSTEMEDB_FAILPOINTS=OFF \
  -DSTEMEDB_JEMALLOC=ON -DSTEMEDB_LIBFUZZER=OFF -DSTEMEDB_WERROR=ON "$@"
