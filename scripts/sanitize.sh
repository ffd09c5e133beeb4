#!/usr/bin/env bash
# The whole test suite under a sanitizer, one command each:
#   scripts/sanitize.sh address   -> ASan + UBSan, build-asan/
#   scripts/sanitize.sh thread    -> TSan, build-tsan/
# SANITIZE_BUILD_DIR=dir builds and tests in another directory. Extra
# arguments go to ctest (e.g. -R wal). Benchmarks are not built; the
# release-binary tests (userpath, image) are not registered in these builds.
# The e2e crash rounds are cut to 5 (the sanitizer slows every round ~5x).
#
# Every process of the run inherits the sanitizer options (test binaries, the
# stemedb servers the e2e suites start, stemectl) and writes its reports to
# <build>/<kind>-reports/<kind>.<pid> instead of a stderr no one may read (a
# server the test SIGKILLs, a log in a removed temp dir). The reporting
# process exits 66 at once, so the test that ran it fails too; and the run
# fails if any report was written, and prints them all.
# address: ASan and LeakSanitizer reports go to asan-reports/. GCC links
# UBSan as a plugin of the ASan runtime, which ignores UBSAN_OPTIONS'
# log_path: a UBSan report stays on the process's stderr (the test's output,
# or a server's captured log, which ServerProcess checks for reports).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: scripts/sanitize.sh address|thread [ctest args]}
shift
case "$kind" in
  address) dir=${SANITIZE_BUILD_DIR:-build-asan} ;;
  thread) dir=${SANITIZE_BUILD_DIR:-build-tsan} ;;
  *) echo "sanitize.sh: address or thread, not '$kind'" >&2; exit 2 ;;
esac
scripts/install-deps.sh
STEMEDB_SANITIZE=$kind scripts/build.sh "$dir" -DSTEMEDB_BUILD_BENCH=OFF
short=${kind/address/asan}
short=${short/thread/tsan}
reports=$PWD/$dir/$short-reports
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:exitcode=66:log_path=$reports/asan}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=66}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp:log_path=$reports/tsan}
export STEMEDB_CRASH_ROUNDS=${STEMEDB_CRASH_ROUNDS:-5}
rc=0
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 1800 "$@" || rc=$?
if compgen -G "$reports/$short.*" >/dev/null; then
  for f in "$reports/$short".*; do
    echo "=== $f"
    cat "$f"
  done
  echo "sanitize.sh: sanitizer reports in $reports (above)" >&2
  exit 1
fi
exit "$rc"
