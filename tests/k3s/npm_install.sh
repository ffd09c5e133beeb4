#!/usr/bin/env bash
# Installs the test-only Node dependencies (schemas, YAML, tsc) from the
# committed package-lock.json into tests/k3s/node_modules (tests/util/npm_ci.sh:
# idempotent, fails loudly). kubectl (with built-in kustomize) renders the
# manifests the validator reads.
exec "$(dirname "$0")/../util/npm_ci.sh" "$(dirname "$0")" k3s kubectl
