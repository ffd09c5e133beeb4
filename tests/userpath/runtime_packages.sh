#!/usr/bin/env bash
# The image's final stage installs enough: every shared library the release
# binaries (scripts/build-release.sh, what the Dockerfile's build stage
# builds) link is owned by a Debian package that the Dockerfile's runtime list
# (scripts/runtime-packages.sh) installs, directly or as a dependency, or by
# one of debian:12-slim's essential packages; and every listed name exists in
# Debian 12. A library the build starts linking (a new dependency) fails here,
# naming its package, before an image is ever built.
#
# Usage: runtime_packages.sh RELEASE_DIR
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
release_dir=${1:?usage: runtime_packages.sh RELEASE_DIR}
bins=("$release_dir/api/stemedb" "$release_dir/stemectl/stemectl")
for b in "${bins[@]}"; do
  [[ -x $b ]] || { echo "runtime_packages: FAIL $b not built (scripts/build-release.sh $release_dir)" >&2; exit 1; }
done
for tool in apt-cache dpkg dpkg-query ldd; do
  command -v "$tool" >/dev/null || { echo "runtime_packages: '$tool' not found" >&2; exit 1; }
done
# A fresh machine may have no apt lists yet.
apt-cache show libc6 >/dev/null 2>&1 || apt-get update -qq >/dev/null 2>&1

# shellcheck source=tests/util/checks.sh
source "$here/../util/checks.sh"

mapfile -t pkgs < <("$repo/scripts/runtime-packages.sh" "$repo/Dockerfile")
check "the Dockerfile lists runtime packages" test "${#pkgs[@]}" -ge 5
known=$(apt-cache show "${pkgs[@]}" 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
for p in "${pkgs[@]}"; do
  check "Debian 12 has package $p" grep -qx -- "$p" <<<"$known"
done
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${pkgs[@]}" 2>/dev/null | grep -v '^ ' | sed 's/:.*//' | sort -u)
# debian:12-slim's essential set (dpkg, coreutils, libc6, ...) is always there.
essential=$(dpkg-query -W -f='${Package} ${Essential}\n' | awk '$2 == "yes" {print $1}')
mapfile -t libs < <(ldd "${bins[@]}" | awk '/=> \//{print $3}' | sort -u)
# merged /usr: dpkg knows a file under the path its package ships it at, so
# ask for every spelling at once (one dpkg -S: it reads its whole database).
candidates() { local real; real=$(readlink -f "$1"); printf '%s\n' "$1" "$real" "${real#/usr}" "/usr${1#/usr}"; }
declare -A owner_of
while IFS= read -r line; do
  owner_of[${line#*: }]=${line%%[:,]*}
done < <(for lib in "${libs[@]}"; do candidates "$lib"; done | sort -u | xargs dpkg -S 2>/dev/null)
used=()
for lib in "${libs[@]}"; do
  owner=
  for cand in $(candidates "$lib"); do
    owner=${owner_of[$cand]:-}
    [[ -n $owner ]] && break
  done
  used+=("$owner")
  check "$(basename "$lib") (${owner:-no package}) is in the final image" \
    bash -c "[[ -n '$owner' ]] && grep -qx '$owner' <<<'$closure
$essential'"
done
check "ldd finds every library of the release binaries" bash -c "! ldd ${bins[*]} | grep 'not found'"
# A listed library no binary links is dead weight (tools like rclone excepted).
for p in "${pkgs[@]}"; do
  [[ $p == lib* && " ${used[*]} " != *" $p "* ]] && echo "note $p is listed but no release binary links a library of it"
done

checks_done "runtime packages"
