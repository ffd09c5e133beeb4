#!/usr/bin/env bash
# Fails (and lists the files) if any tracked C++ file differs from what
# clang-format (the repo's .clang-format) would write. Run by ctest
# (`clang_format`); fix with:  clang-format -i $(git ls-files '*.h' '*.cc')
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format not installed (scripts/install-deps.sh)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.h' '*.cc' 2>/dev/null || find . -path ./build\* -prune -o \( -name '*.h' -o -name '*.cc' \) -print)
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  echo "check-format: ${#bad[@]} file(s) not clang-formatted:" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files clang-formatted"
