#!/usr/bin/env bash
# Installs a test directory's pinned Node dependencies (its committed
# package-lock.json) into DIR/node_modules with `npm ci`. Idempotent: skips
# when node_modules already matches the lock file. Fails loudly: the tests
# of DIR cannot run without them.
# Usage: tests/util/npm_ci.sh DIR NAME [TOOL...]   (TOOLs must be on PATH)
set -euo pipefail
dir=$1 name=$2
shift 2
for tool in node npm "$@"; do
  if ! command -v "$tool" >/dev/null; then
    echo "$name tests: '$tool' not found (node+npm from Debian/NodeSource)" >&2
    exit 1
  fi
done
cd "$dir"
stamp=node_modules/.stemedb-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "$name tests: node_modules up to date"
  exit 0
fi
if ! npm ci --no-audit --no-fund --loglevel=error >npm-ci.log 2>&1; then
  echo "$name tests: 'npm ci' failed (the npm registry must be reachable); log:" >&2
  cat npm-ci.log >&2
  exit 1
fi
rm -f npm-ci.log
echo "$want" >"$stamp"
echo "$name tests: npm ci done"
