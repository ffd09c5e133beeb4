#!/usr/bin/env bash
# Configures and builds StemeDB.
# Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
#   STEMEDB_SANITIZE=address|thread scripts/build.sh build-asan   (sanitizer builds)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
shift || true
cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
  -DSTEMEDB_SANITIZE="${STEMEDB_SANITIZE:-}" "$@" >/dev/null
ninja -C "$build_dir" -j"$(nproc)"
