#!/usr/bin/env bash
# One command: install dependencies, build, and run the server with embedded
# defaults (127.0.0.1:18180, data in ./stemedb-data, auth on, a root key
# generated into ./stemedb-data/root.key on first start).
# Any STEMEDB_* variable (docs/configuration.md) or --flag is passed through.
# The build is the shipped configuration (scripts/build-release.sh); CI builds
# and runs the same binary (tests/userpath/readme_try_it.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build-release.sh build-release
exec build-release/api/stemedb "$@"
