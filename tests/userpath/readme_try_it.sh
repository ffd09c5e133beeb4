#!/usr/bin/env bash
# The README's first steps, as a user on a fresh clone does them
# (docs/testing.md "The user's path"):
#   ./scripts/run.sh   -> build-release/api/stemedb with embedded defaults, run
#                         from the repository root (data in ./stemedb-data);
#   the "Try it" block -> the ```sh block after the line ending in "Try it:",
#                         extracted from README.md and run, not a copy.
#
# The server is the binary scripts/run.sh runs (built by the same
# scripts/build-release.sh), started in a fresh directory standing in for the
# clone's root, with no STEMEDB_* variable at all. Only if 127.0.0.1:18180 is
# taken (a developer's own server) it gets STEMEDB_BIND_ADDR with a free
# loopback port, and the block's URL http://127.0.0.1:18180 is replaced by that
# one: the only substitution. The block runs under `bash -euo pipefail` with
# `curl` wrapped to record every reply; the test fails if a command fails, a
# curl gets no 2xx or a body that is not JSON, not every curl of the block ran,
# or an id a write returned is not in a later reply.
#
# Usage: readme_try_it.sh RELEASE_DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
release_dir=$(cd "${1:?usage: readme_try_it.sh RELEASE_DIR}" && pwd)
server=$release_dir/api/stemedb
[[ -x $server ]] || { echo "userpath: FAIL $server not built (scripts/build-release.sh $release_dir)" >&2; exit 1; }
fail() { echo "userpath: FAIL $*" >&2; exit 1; }

tmp=$(mktemp -d /tmp/stemedb-userpath.XXXXXX)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- the README's "Try it" block ---------------------------------------------
default_url=http://127.0.0.1:18180
block=$(awk '/Try it:$/ { seen = 1; next }
             seen && !inside && /^```sh$/ { inside = 1; next }
             inside && /^```$/ { exit }
             inside { print }' "$repo/README.md")
[[ -n $block ]] || fail "no \`\`\`sh block after the line ending in \"Try it:\" in README.md"
[[ $block == *"$default_url"* ]] || fail "the README block no longer names $default_url (this test's substitution point)"
curls=$(grep -o '\bcurl\b' <<<"$block" | wc -l)
((curls > 0)) || fail "the README block runs no curl"

# --- the server, as scripts/run.sh starts it ------------------------------------
mkdir -p "$tmp/clone" "$tmp/replies"
cd "$tmp/clone"
envv=()
url=$default_url
if (exec 3<>/dev/tcp/127.0.0.1/18180) 2>/dev/null; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  url=http://127.0.0.1:$port
  envv=("STEMEDB_BIND_ADDR=127.0.0.1:$port")
  block=${block//"$default_url"/"$url"}
  echo "userpath: 127.0.0.1:18180 is taken; the server and the block use $url"
fi
# Nothing of the caller's STEMEDB_* environment reaches the server or the block.
mapfile -t unset_args < <(env | sed -n 's/^\(STEMEDB_[A-Za-z0-9_]*\)=.*/-u\n\1/p')
env "${unset_args[@]}" "${envv[@]}" "$server" >"$tmp/server.log" 2>&1 &
server_pid=$!
for ((i = 0; ; i++)); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/v1/ready") == 200 ]] && break
  kill -0 "$server_pid" 2>/dev/null || { tail -5 "$tmp/server.log" >&2; fail "the server exited"; }
  ((i < 300)) || fail "$url/v1/ready not 200 after 60 s"
  sleep 0.2
done
echo "userpath: $server ready on $url (cwd a fresh directory, embedded defaults)"
[[ -f stemedb-data/root.key && $(stat -c %a stemedb-data/root.key) == 600 ]] ||
  fail "./stemedb-data/root.key missing or not mode 0600 (README: generated on first start)"
grep -q 'stemedb-data/root.key' "$tmp/server.log" || fail "the log does not name the root.key path (README: it logs that path)"

# --- run it ----------------------------------------------------------------------
cat >"$tmp/prelude.sh" <<'PRELUDE'
# Every curl of the block: its reply kept, a non-2xx status or a failed
# transfer fails the block (set -e).
curl() {
  local out status
  out=$(command curl --silent --show-error --max-time 10 --write-out '\n%{http_code}' "$@") || return 1
  status=${out##*$'\n'}
  out=${out%$'\n'*}
  replies=$((replies + 1))
  printf '%s\n' "$out" >"$REPLY_DIR/$replies.json"
  printf '%s\n' "$out"
  [[ $status == 2?? ]] || { echo "userpath: HTTP $status from curl ${*: -1}" >&2; return 1; }
}
replies=0
PRELUDE
printf '%s\n' "$block" >"$tmp/block.sh"
echo "userpath: running the README block:"
sed 's/^/  | /' "$tmp/block.sh"
if ! env "${unset_args[@]}" REPLY_DIR="$tmp/replies" bash -euo pipefail -c \
  'source "$1"; source "$2"' _ "$tmp/prelude.sh" "$tmp/block.sh" >"$tmp/block.out" 2>&1; then
  sed 's/^/  > /' "$tmp/block.out"
  fail "the README \"Try it\" block failed"
fi
sed 's/^/  > /' "$tmp/block.out"

python3 - "$tmp/replies" "$curls" <<'PY' || fail "the README block's replies are not what it promises"
import json, os, sys
folder, want = sys.argv[1], int(sys.argv[2])
names = sorted(os.listdir(folder), key=lambda n: int(n.split(".")[0]))
if len(names) != want:
    sys.exit(f"userpath: {len(names)} curl replies, the block has {want} curls")
bodies = []
for n in names:
    text = open(os.path.join(folder, n)).read()
    try:
        bodies.append(json.loads(text))
    except ValueError:
        sys.exit(f"userpath: reply {n} is not JSON: {text[:200]!r}")
    bodies[-1] = (bodies[-1], text)
for i, (body, _) in enumerate(bodies):
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        if not any(body["id"] in later for _, later in bodies[i + 1:]):
            sys.exit(f"userpath: the write's id {body['id']} is in no later reply")
print(f"userpath: {len(names)} replies, all 2xx JSON; every written id read back")
PY

kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=
((rc == 0)) || fail "the server exited $rc after SIGTERM"
echo "userpath: ok (SIGTERM: exit 0)"
