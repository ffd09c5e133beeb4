# Sourced by the shell tests (tests/image, tests/k3s, tests/userpath): one
# line per check, counted, and a closing "N passed, N failed" line.
#   check "what it proves" COMMAND...   runs COMMAND: ok or FAIL, counted
#   checks_done NAME                    prints the totals; status 1 on a failure
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); return 1; }
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
checks_done() {
  echo "$1: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}
