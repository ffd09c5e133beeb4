#!/usr/bin/env bash
# Builds the image the Dockerfile describes without a Docker daemon, as an OCI
# image archive a registry client can push:
#   skopeo copy oci-archive:build-image/stemedb-0.1.0.oci.tar docker://REGISTRY/stemedb:0.1.0
#   skopeo copy oci-archive:build-image/stemedb-0.1.0.oci.tar docker-archive:stemedb.tar:stemedb:0.1.0
#     (then `docker load -i stemedb.tar`)
#
# Usage: scripts/build-image.sh [--release-dir DIR] [--out DIR]   (as root)
#   --release-dir  the shipped build (scripts/build-release.sh DIR runs first;
#                  default build-release, the one scripts/run.sh runs)
#   --out          where the archive goes (default build-image/)
#   DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR override deb.debian.org (a local mirror)
#
# The Dockerfile stays the one description of the image; this script reads it:
#   - the build stage must be `scripts/build-release.sh /build` plus `strip`:
#     that is done here into --release-dir, and /build/... in a COPY --from=build
#     means that directory (the binaries copied and stripped);
#   - FROM debian:12-slim becomes `mmdebstrap --variant=minbase bookworm` from
#     the same archive suites, with the same files left out as the slim image
#     (man pages, docs but their copyright, locales);
#   - the RUN apt-get between the runtime-packages markers becomes mmdebstrap's
#     --include of that list (scripts/runtime-packages.sh);
#   - every other RUN of the final stage runs in the root filesystem (chroot,
#     /bin/sh -c, as the current USER, in the current WORKDIR, with the ENVs);
#   - USER, WORKDIR, ENV, EXPOSE, ENTRYPOINT, CMD become the image config.
# Any other instruction is refused, so a Dockerfile change cannot be silently
# left out. Needs root (chroot, file ownership) and the Debian mirror; the tools
# come from `scripts/install-deps.sh --image`.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

release_dir=build-release
out=build-image
while (($#)); do
  case "$1" in
    --release-dir) release_dir=${2:?--release-dir DIR}; shift 2 ;;
    --out) out=${2:?--out DIR}; shift 2 ;;
    *) echo "build-image: unknown argument $1 (--release-dir DIR, --out DIR)" >&2; exit 2 ;;
  esac
done
if [[ $(id -u) -ne 0 ]]; then
  echo "build-image: run as root (chroot into the root filesystem, files owned by UID 1000)" >&2
  exit 1
fi
scripts/install-deps.sh --image
for tool in mmdebstrap umoci chroot strip; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool not found" >&2; exit 1; }
done

say() { printf 'build-image: %s (%ds)\n' "$*" "$SECONDS"; }
die() { echo "build-image: $*" >&2; exit 1; }

version=$(sed -nE 's/^project\(stemedb VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
[[ -n $version ]] || die "no project(stemedb VERSION ...) in CMakeLists.txt"

# --- the Dockerfile, as logical instructions (comments out, "\" joined) -------
mapfile -t instructions < <(awk '
  /^[[:space:]]*#/ { next }
  { line = line $0 }
  /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, "", line); next }
  line ~ /[^[:space:]]/ { print line }
  { line = "" }' Dockerfile)
final=-1
for i in "${!instructions[@]}"; do
  [[ ${instructions[$i]} =~ ^FROM[[:space:]] ]] && final=$i
done
((final > 0)) || die "Dockerfile: no build stage before the final FROM"
build_stage="${instructions[*]:0:final}"
[[ $build_stage == *"scripts/build-release.sh /build"* && $build_stage == *strip* ]] ||
  die "Dockerfile: the build stage no longer runs 'scripts/build-release.sh /build' and strip; teach this script what it does now"
[[ ${instructions[$final]} =~ ^FROM[[:space:]]+debian:12-slim[[:space:]]*$ ]] ||
  die "Dockerfile: final stage is '${instructions[$final]}'; this script makes debian:12-slim only"

mapfile -t packages < <(scripts/runtime-packages.sh Dockerfile)

# --- the build stage ----------------------------------------------------------
say "release build in $release_dir (scripts/build-release.sh)"
scripts/build-release.sh "$release_dir"
release_dir=$(cd "$release_dir" && pwd)

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

# --- FROM debian:12-slim + the runtime packages --------------------------------
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
say "root filesystem: mmdebstrap minbase bookworm + ${#packages[@]} runtime packages from $mirror"
slim_excludes=(
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/groff/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
)
if ! mmdebstrap --quiet --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  "${slim_excludes[@]}" bookworm "$rootfs" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb $security_mirror bookworm-security main" >"$work/mmdebstrap.log" 2>&1; then
  tail -20 "$work/mmdebstrap.log" >&2
  die "mmdebstrap failed (a runtime package missing from Debian 12, or no mirror?)"
fi

# --- the final stage's instructions ---------------------------------------------
user=0:0
workdir=/
envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)  # debian:12-slim's
config=()
for ((i = final + 1; i < ${#instructions[@]}; i++)); do
  line=${instructions[$i]}
  keyword=${line%%[[:space:]]*}
  args=$(sed -E 's/^[A-Z]+[[:space:]]+//' <<<"$line")
  case "$keyword" in
    RUN)
      if [[ $args == *"apt-get install"* ]]; then
        for p in "${packages[@]}"; do
          [[ " $args " == *" $p "* ]] || die "Dockerfile: the apt-get RUN does not install '$p' from the markers"
        done
        continue  # mmdebstrap --include did it
      fi
      say "RUN $args"
      chroot --userspec="$user" "$rootfs" /usr/bin/env -i "${envs[@]}" /bin/sh -c "cd '$workdir' && $args" ||
        die "RUN failed in the root filesystem: $args"
      ;;
    COPY)
      read -ra words <<<"$args"
      [[ ${words[0]} == --from=build ]] || die "Dockerfile: only COPY --from=build is understood: $line"
      dest=${words[-1]}
      [[ $dest == */ ]] || die "Dockerfile: COPY destination must be a directory (ending in /): $line"
      mkdir -p "$rootfs$dest"
      for src in "${words[@]:1:${#words[@]}-2}"; do
        [[ $src == /build/* ]] || die "Dockerfile: COPY --from=build of $src, not below /build"
        from=$release_dir/${src#/build/}
        [[ -f $from ]] || die "$from not built"
        say "COPY $src -> $dest (stripped)"
        install -o 0 -g 0 -m 0755 "$from" "$rootfs$dest"
        strip "$rootfs$dest$(basename "$src")"
      done
      ;;
    USER) user=$args; config+=(--config.user="$args") ;;
    WORKDIR) workdir=$args; mkdir -p "$rootfs$args"; config+=(--config.workingdir="$args") ;;
    ENV)
      [[ $args != *[\"\'\$]* ]] || die "Dockerfile: ENV with quotes or \$ is not understood: $line"
      for kv in $args; do
        [[ $kv == *=* ]] || die "Dockerfile: ENV must be NAME=VALUE pairs: $line"
        envs+=("$kv")
        config+=(--config.env="$kv")
      done
      ;;
    EXPOSE) for p in $args; do config+=(--config.exposedports="${p%/tcp}/tcp"); done ;;
    ENTRYPOINT | CMD)
      mapfile -t argv < <(python3 -c 'import json, sys
v = json.loads(sys.argv[1])
assert isinstance(v, list) and all(isinstance(a, str) for a in v)
print("\n".join(v))' "$args") || die "Dockerfile: $keyword must be an exec-form JSON array: $line"
      flag=--config.entrypoint
      [[ $keyword == CMD ]] && flag=--config.cmd
      for a in "${argv[@]}"; do config+=("$flag=$a"); done
      ;;
    *) die "Dockerfile: instruction '$keyword' in the final stage is not understood here: $line" ;;
  esac
done

# --- OCI image --------------------------------------------------------------------
say "OCI layout (umoci)"
layout=$work/oci
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci insert --image "$layout:$version" --history.created_by="scripts/build-image.sh" "$rootfs" /
# debian:12-slim's PATH first; an ENTRYPOINT drops the base image's CMD.
umoci config --image "$layout:$version" --no-history --os=linux --architecture="$(dpkg --print-architecture)" \
  --config.env="${envs[0]}" "${config[@]}"
archive=$out/stemedb-$version.oci.tar
tar -C "$layout" -cf "$archive.tmp" .
mv "$archive.tmp" "$archive"
say "wrote $archive ($(du -m "$archive" | cut -f1) MiB), tag $version"
