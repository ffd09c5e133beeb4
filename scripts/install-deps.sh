#!/usr/bin/env bash
# Installs the Debian 12 packages StemeDB needs to build, test and run.
# Idempotent: does nothing (and needs no root) when everything is present.
# Usage: scripts/install-deps.sh [--bench] [--image]
#   --bench adds the benchmark peers (bench/compare) and what
#     scripts/build-rocksdb.sh needs (bench/rocksdb_ab);
#   --image adds the daemon-less image tools (scripts/build-image.sh, tests/image/).
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config clang-format
  # libraries
  librocksdb-dev libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev
  libsodium-dev prometheus-cpp-dev libssl-dev libisal-dev libarchive-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing (libFuzzer) and sanitizer runtimes
  clang libclang-rt-14-dev
  # run-time tools: rclone for backups; curl for the docs/api.md examples test
  rclone curl ca-certificates
  # tests/observability: a real Prometheus (and promtool) evaluating the alert rules
  prometheus
)
# Node.js and npm for the Node tests (tests/k3s, tests/openapi; their npm
# packages are pinned there): the machine's own (NodeSource's nodejs, which
# conflicts with Debian's npm) when present, else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
for flag in "$@"; do
  case "$flag" in
    # dpkg-dev: dpkg-source and dpkg-buildflags for scripts/build-rocksdb.sh.
    --bench) packages+=(etcd-server redis-server fio wrk gnuplot-nox python3 dpkg-dev) ;;
    # mmdebstrap builds the root filesystem, umoci packs it as an OCI image,
    # runc runs it (crun refuses hosts with a hybrid cgroup v1/v2 layout),
    # skopeo reads the archive back as a registry client would.
    --image) packages+=(mmdebstrap umoci runc skopeo python3) ;;
    *) echo "install-deps: unknown flag $flag (--bench, --image)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if (( ${#missing[@]} == 0 )); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: missing packages and not root; run as root: $0" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
