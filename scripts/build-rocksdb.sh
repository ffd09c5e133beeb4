#!/usr/bin/env bash
# Builds Debian's RocksDB (same version, same patches, same compression
# libraries) as a release static library: NDEBUG, so without the assertions
# and test sync points Debian's librocksdb keeps live. Installs it into a
# versioned prefix that CMake takes as -DSTEMEDB_ROCKSDB_PREFIX=<prefix>.
# Cached: does nothing when that prefix is already complete.
#
# Usage: scripts/build-rocksdb.sh [--db-bench] [--print-prefix]
#   --db-bench      also builds RocksDB's db_bench (in <prefix>/bin) to
#                   compare with Debian's library (docs/architecture.md)
#   --print-prefix  prints the prefix for the installed librocksdb-dev
#                   version and exits
# Environment: ROCKSDB_RELEASE_ROOT (default <repo>/build-rocksdb) holds one
# <version>-ndebug/ directory per Debian version: src/, build/ and the prefix
# install/. Needs librocksdb-dev (its version is the one rebuilt), dpkg-dev
# (scripts/install-deps.sh --bench) and a deb-src line for bookworm (added,
# as root or through sudo, when missing). About 19 CPU-minutes: the shipped
# build and CI link Debian's library (docs/architecture.md, "RocksDB built
# with NDEBUG"); bench/rocksdb_ab compares the two.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
db_bench=0
print_prefix=0
for flag in "$@"; do
  case "$flag" in
    --db-bench) db_bench=1 ;;
    --print-prefix) print_prefix=1 ;;
    *) echo "build-rocksdb: unknown flag $flag (--db-bench, --print-prefix)" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-source >/dev/null; then
  echo "build-rocksdb: dpkg-source missing; run scripts/install-deps.sh --bench (dpkg-dev)" >&2
  exit 1
fi
version=$(dpkg-query -W -f='${Version}' librocksdb-dev 2>/dev/null || true)
if [[ -z "$version" ]]; then
  echo "build-rocksdb: librocksdb-dev is not installed; run scripts/install-deps.sh first" >&2
  exit 1
fi
root=${ROCKSDB_RELEASE_ROOT:-$repo/build-rocksdb}
dir=$root/$version-ndebug
prefix=$dir/install
if ((print_prefix)); then
  echo "$prefix"
  exit 0
fi
# The marker records what was built, so a change of flags rebuilds.
want="version=$version db_bench=$db_bench"
if [[ -f "$prefix/.complete" ]] && grep -qxF "$want" "$prefix/.complete"; then
  echo "build-rocksdb: $prefix is up to date" >&2
  exit 0
fi
if [[ -f "$prefix/.complete" ]] && ((!db_bench)) && grep -q "db_bench=1" "$prefix/.complete"; then
  exit 0  # a build with db_bench serves a request without it
fi

# Debian's source package for exactly the installed version.
src=$dir/src
if [[ ! -f "$src/.extracted" ]]; then
  if ! apt-get source --print-uris "rocksdb=$version" >/dev/null 2>&1; then
    SUDO=
    if [[ $(id -u) -ne 0 ]]; then
      if ! command -v sudo >/dev/null; then
        echo "build-rocksdb: apt has no deb-src for rocksdb; add one for bookworm (or run as root)" >&2
        exit 1
      fi
      SUDO=sudo
    fi
    $SUDO tee /etc/apt/sources.list.d/stemedb-deb-src.sources >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    $SUDO apt-get update -qq
  fi
  rm -rf "$src" "$dir/download"
  mkdir -p "$dir/download"
  (cd "$dir/download" && apt-get source --download-only -qq "rocksdb=$version" 2>/dev/null) ||
    { echo "build-rocksdb: apt-get source rocksdb=$version failed" >&2; exit 1; }
  dpkg-source --no-check -x "$dir"/download/rocksdb_*.dsc "$src" >/dev/null
  touch "$src/.extracted"
fi

# Debian's configuration (debian/rules: compression libraries, gflags,
# PORTABLE) and its compiler flags (build type None: -O2, hardening, RTTI on,
# which our rocksdb::Logger subclass needs), minus -g, plus NDEBUG. Only the
# static library: the server links it statically (engine/CMakeLists.txt).
flags="$(dpkg-buildflags --get CXXFLAGS | sed 's/-g //; s/-ffile-prefix-map=[^ ]*//')"
flags="$flags $(dpkg-buildflags --get CPPFLAGS) -DNDEBUG"
start=$(date +%s)
cmake -S "$src" -B "$dir/build" -G Ninja -Wno-dev \
  -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
  -DWITH_BZ2=ON -DWITH_LZ4=ON -DWITH_ZLIB=ON -DWITH_ZSTD=ON -DWITH_SNAPPY=ON -DWITH_GFLAGS=ON \
  -DPORTABLE=ON -DFAIL_ON_WARNINGS=OFF -DROCKSDB_BUILD_SHARED=OFF \
  -DWITH_TESTS=OFF -DWITH_TOOLS=OFF -DWITH_CORE_TOOLS=OFF \
  -DWITH_BENCHMARK_TOOLS="$( ((db_bench)) && echo ON || echo OFF)" >/dev/null
# Niced: it is the longest compile of the tree and shares the machine.
nice -n 19 ninja -C "$dir/build" -j"$(nproc)" rocksdb $( ((db_bench)) && echo db_bench)
rm -rf "$prefix"
cmake --install "$dir/build" >/dev/null
if ((db_bench)); then
  install -D -m 755 "$dir/build/db_bench" "$prefix/bin/db_bench"
fi
echo "$want" > "$prefix/.complete"
echo "build-rocksdb: installed $prefix in $(($(date +%s) - start)) s" >&2
