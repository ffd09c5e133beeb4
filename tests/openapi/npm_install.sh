#!/usr/bin/env bash
# The pinned generator, compiler and validators of tests/openapi/ (package-lock.json).
exec "$(dirname "$0")/../util/npm_ci.sh" "$(dirname "$0")" openapi
