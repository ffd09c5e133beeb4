#!/usr/bin/env bash
# One command: install dependencies, build, and run every test (unit, e2e,
# crash rounds, fuzz smoke, and the user's path). Exits non-zero on any failure.
#   (the 200-round crash soak runs the test binary directly: docs/testing.md)
#   scripts/test.sh -R wal                      -> extra args go to ctest
#   scripts/test.sh -LE image                   -> all but the image build (no mirror)
#
# Two configurations are built: the test build (./build: RelWithDebInfo, test
# failpoints) and the shipped one (./build-release by scripts/build-release.sh,
# exactly what scripts/run.sh and the Dockerfile build). The ctest labels
# userpath and image run the release binaries: the README's "Try it" block
# against them, their libraries against the Dockerfile's package list, and the
# image built from the Dockerfile without a daemon (docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench --image   # bench: ctest runs bench/compare --quick
scripts/build.sh build
scripts/build-release.sh build-release
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 900 "$@"
