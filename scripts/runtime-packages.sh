#!/usr/bin/env bash
# Prints the Debian packages of the image's final stage, one per line: the
# names between "# runtime-packages-begin" and "# runtime-packages-end" in the
# Dockerfile, its one definition. Used by scripts/build-image.sh and
# tests/userpath/runtime_libs.sh. Fails if the markers or the names are gone.
# Usage: scripts/runtime-packages.sh [DOCKERFILE]
set -euo pipefail
dockerfile=${1:-"$(dirname "$0")/../Dockerfile"}
# Between the markers, the lines that are just a package name (and the "\"
# that continues the RUN line): the apt-get and rm lines have more words.
names=$(sed -n '/^# runtime-packages-begin/,/^# runtime-packages-end/p' "$dockerfile" |
  sed -nE 's/^[[:space:]]+([a-z0-9][a-z0-9.+-]+)[[:space:]]*\\?[[:space:]]*$/\1/p')
if [[ -z $names ]]; then
  echo "runtime-packages: no package names between the runtime-packages markers of $dockerfile" >&2
  exit 1
fi
printf '%s\n' "$names"
