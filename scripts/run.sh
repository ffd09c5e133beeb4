#!/usr/bin/env bash
# One command: install dependencies, build, and run the server with embedded
# defaults (127.0.0.1:18180, data in ./stemedb-data, auth on, a root key
# generated into ./stemedb-data/root.key on first start).
# Any STEMEDB_* variable (SPEC §2) or --flag is passed through.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
CMAKE_BUILD_TYPE=Release scripts/build.sh build-release -DSTEMEDB_BUILD_TESTS=OFF \
  -DSTEMEDB_BUILD_BENCH=OFF -DSTEMEDB_FAILPOINTS=OFF
exec build-release/api/stemedb "$@"
