#!/usr/bin/env bash
# One command: install dependencies, build, and run every test (unit, e2e,
# crash rounds, fuzz smoke). Exits non-zero on any failure.
#   (the 200-round crash soak runs the test binary directly: docs/testing.md)
#   scripts/test.sh -R wal                      -> extra args go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench   # the peers too: ctest runs bench/compare --quick
scripts/build.sh build
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 900 "$@"
