#!/usr/bin/env bash
# Installs the test-only Node dependencies (schemas, YAML, tsc) from the
# committed package-lock.json into tests/k3s/node_modules. Idempotent: skips
# when node_modules already matches the lock file. Fails loudly: the k3s tests
# cannot validate anything without these.
set -euo pipefail
cd "$(dirname "$0")"
for tool in node npm kubectl; do
  if ! command -v "$tool" >/dev/null; then
    echo "k3s tests: '$tool' not found (node+npm from Debian/NodeSource; kubectl with built-in kustomize)" >&2
    exit 1
  fi
done
stamp=node_modules/.stemedb-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "k3s tests: node_modules up to date"
  exit 0
fi
if ! npm ci --no-audit --no-fund --loglevel=error >npm-ci.log 2>&1; then
  echo "k3s tests: 'npm ci' failed (the npm registry must be reachable); log:" >&2
  cat npm-ci.log >&2
  exit 1
fi
rm -f npm-ci.log
echo "$want" >"$stamp"
echo "k3s tests: npm ci done"
