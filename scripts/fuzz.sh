#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (clang, ASan+UBSan) of one target.
# Usage: scripts/fuzz.sh TARGET [MINUTES]     (default 5 minutes)
#   TARGET: wal_reader | wal_entry | json_request | http_request | all
# The working corpus grows in build-fuzz/corpus/TARGET (seeded from
# tests/fuzz/corpus/TARGET); crashes land in build-fuzz/artifacts/. Add a
# crash input to tests/fuzz/corpus/TARGET once fixed: the default ctest run
# replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET [MINUTES]}
minutes=${2:-5}
scripts/install-deps.sh
if [[ "$target" == all ]]; then
  for t in wal_reader wal_entry json_request http_request; do "$0" "$t" "$minutes"; done
  exit 0
fi
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSTEMEDB_LIBFUZZER=ON -DSTEMEDB_SANITIZE=address -DSTEMEDB_WERROR=OFF \
  -DSTEMEDB_BUILD_BENCH=OFF >/dev/null
ninja -C build-fuzz "${target}_fuzz"
mkdir -p "build-fuzz/corpus/$target" build-fuzz/artifacts
extra=()
[[ "$target" == http_request ]] && extra+=(-dict=tests/fuzz/http_request.dict)
# -rss_limit_mb bounds memory; -timeout flags a single input slower than 10 s.
exec "build-fuzz/tests/fuzz/${target}_fuzz" -max_total_time=$((minutes * 60)) \
  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="build-fuzz/artifacts/${target}-" "${extra[@]}" \
  "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target"
