#!/usr/bin/env bash
# The whole test suite under a sanitizer, one command each:
#   scripts/sanitize.sh address   -> ASan + UBSan, build-asan/
#   scripts/sanitize.sh thread    -> TSan, build-tsan/
# Extra arguments go to ctest (e.g. -R wal). Benchmarks are not built.
# The e2e crash rounds are cut to 5 (the sanitizer slows every round ~5x).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: scripts/sanitize.sh address|thread [ctest args]}
shift
case "$kind" in
  address) dir=build-asan ;;
  thread) dir=build-tsan ;;
  *) echo "sanitize.sh: address or thread, not '$kind'" >&2; exit 2 ;;
esac
scripts/install-deps.sh
STEMEDB_SANITIZE=$kind scripts/build.sh "$dir" -DSTEMEDB_BUILD_BENCH=OFF
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}
export STEMEDB_CRASH_ROUNDS=${STEMEDB_CRASH_ROUNDS:-5}
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 1800 "$@"
