#!/usr/bin/env bash
# Conformance of the k3s manifests with the real binaries (issue 8).
#
# Takes the rendered prod Deployment and runs the real `stemedb` with exactly
# the container's env, args and port (volume paths remapped below a temp dir,
# the root key from a generated "Secret"), as UID/GID 1000 like the pod, in a
# private network + mount namespace (so 0.0.0.0:18180 collides with nothing
# and the CronJob's service DNS name resolves to it). Then checks:
#   - every probe path answers as the manifest expects (startup/liveness 200,
#     readiness 200 once replay is done), /metrics on the annotated port;
#   - no STEMEDB_* variable the manifests set is unknown to the binaries;
#   - the gate test: 401 unauthenticated, an authenticated write, the key and
#     the write survive a restart;
#   - every stemedb_* metric a PrometheusRule expression uses is in /metrics;
#   - SIGTERM: exit 0 within terminationGracePeriodSeconds;
#   - the backup CronJob's command, verbatim, succeeds against that server with
#     a local rclone remote and a role-"backup" key (which cannot administer
#     keys); the restore Job's command, verbatim, restores that archive into
#     the Deployment's emptied volumes, the server starts from them with its
#     unchanged env and serves the same write; the smoke Job's command passes.
# (The Dockerfile's package list against what the release binaries link is
# tests/userpath/runtime_packages.sh; the image itself, tests/image/.)
#
# Usage: conformance.sh PATH/TO/stemedb PATH/TO/stemectl    (as root)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [[ $# -ne 2 || ! -x $1 || ! -x $2 ]]; then
  echo "usage: $0 STEMEDB_BINARY STEMECTL_BINARY (both must exist)" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "conformance: must run as root (private netns/mountns, setpriv to UID 1000)" >&2
  exit 1
fi
for tool in node curl setpriv unshare rclone; do
  command -v "$tool" >/dev/null || { echo "conformance: '$tool' not found (scripts/install-deps.sh installs rclone and curl)" >&2; exit 1; }
done
if [[ -z ${STEMEDB_K3S_INNER:-} ]]; then
  exec env STEMEDB_K3S_INNER=1 unshare --net --mount --propagation private -- "$0" "$@"
fi
ip link set lo up 2>/dev/null || { echo "conformance: cannot bring up lo in the private netns" >&2; exit 1; }

# shellcheck source=tests/util/checks.sh
source "$here/../util/checks.sh"

tmp=$(mktemp -d /tmp/stemedb-k3s-conformance.XXXXXX)
chmod 0755 "$tmp"
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# The image puts both binaries in /usr/local/bin; copy them where UID 1000 can
# run them regardless of the build tree's permissions.
mkdir -p "$tmp/bin"
cp "$1" "$tmp/bin/stemedb"
cp "$2" "$tmp/bin/stemectl"
chmod 0755 "$tmp/bin" "$tmp/bin/"*
PATH_IN_POD="$tmp/bin:/usr/local/bin:/usr/bin:/bin"

facts=$(node "$here/facts.mjs" prod "$tmp/server" "$tmp/backup") || { echo "conformance: rendering failed" >&2; exit 1; }
eval "$facts"

root_key="steme_live_$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
# "Secrets" by name/key, as the ExternalSecrets would create them.
secret() {
  case $1 in
    stemedb-root-key/STEMEDB_ROOT_API_KEY) printf '%s' "$root_key" ;;
    stemedb-backup-key/STEMEDB_ADMIN_KEY) printf '%s' "$backup_key" ;;
    *) echo "conformance: the manifests reference an unknown secret $1" >&2; return 1 ;;
  esac
}
resolve_env() { # NAME=VALUE lines -> NAME=VALUE with secrets filled in
  local kv
  for kv in "$@"; do
    if [[ ${kv#*=} == @secret:* ]]; then
      printf '%s=%s\n' "${kv%%=*}" "$(secret "${kv#*=@secret:}")" || return 1
    else
      printf '%s\n' "$kv"
    fi
  done
}
as_pod() { setpriv --reuid=1000 --regid=1000 --clear-groups -- "$@"; }

# Volumes as the kubelet gives them: empty, owned by the pod's fsGroup.
for d in "${SERVER_MOUNTS[@]}" "${BACKUP_MOUNTS[@]}"; do
  mkdir -p "$d" && chown 1000:1000 "$d" && chmod 0770 "$d"
done
# The pod's working directory is not writable (read-only root filesystem).
mkdir -p "$tmp/rootfs" && chmod 0555 "$tmp/rootfs"

base="http://127.0.0.1:$PORT"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }

start_server() { # start_server LOG [ENV OVERRIDES...]
  local log=$1; shift
  local -a envv
  mapfile -t envv < <(resolve_env "${SERVER_ENV[@]}" "$@") || return 1
  : >"$log"
  server_log=$log
  (cd "$tmp/rootfs" && exec env -i PATH="$PATH_IN_POD" HOME=/nonexistent "${envv[@]}" \
    setpriv --reuid=1000 --regid=1000 --clear-groups -- "$tmp/bin/stemedb" "${SERVER_ARGS[@]}") >>"$log" 2>&1 &
  server_pid=$!
}
wait_code() { # wait_code PORT PATH WANT SECONDS
  local i got
  for ((i = 0; i < $4 * 5; i++)); do
    got=$(code "http://127.0.0.1:$1$2")
    [[ $got == "$3" ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || { echo "  server exited; log:"; tail -5 "$server_log"; return 1; }
    sleep 0.2
  done
  echo "  $2 answered $got, wanted $3"
  return 1
}
stop_server() { # SIGTERM; must exit 0 within GRACE seconds
  local i
  kill -TERM "$server_pid"
  for ((i = 0; i < GRACE * 10; i++)); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid"
      local rc=$?
      server_pid=
      [[ $rc -eq 0 ]] || echo "  exit status $rc after SIGTERM"
      return $rc
    fi
    sleep 0.1
  done
  echo "  still running after terminationGracePeriodSeconds=$GRACE s"
  return 1
}

# --- variables: every STEMEDB_* the manifests set is known -------------------
help=$("$tmp/bin/stemedb" --help 2>&1)
for kv in "${SERVER_ENV[@]}"; do
  name=${kv%%=*}
  flag="--$(echo "${name#STEMEDB_}" | tr 'A-Z_' 'a-z-')"
  check "stemedb knows $name ($flag)" grep -qE -- "${flag}([^a-z0-9-]|$)" <<<"$help"
done
for kv in "${BACKUP_ENV[@]}"; do
  name=${kv%%=*}
  [[ $name == STEMEDB_* ]] || continue
  check "stemectl documents $name" grep -q "$name" "$repo/docs/stemectl.md"
done

# --- first start: probes, gate test, metrics ---------------------------------
start_server "$tmp/server.log"
check "startupProbe GET $STARTUPPROBE_PATH :$STARTUPPROBE_PORT -> 200" wait_code "$STARTUPPROBE_PORT" "$STARTUPPROBE_PATH" 200 60
check "livenessProbe GET $LIVENESSPROBE_PATH :$LIVENESSPROBE_PORT -> 200" wait_code "$LIVENESSPROBE_PORT" "$LIVENESSPROBE_PATH" 200 5
check "readinessProbe GET $READINESSPROBE_PATH :$READINESSPROBE_PORT -> 200 after replay" wait_code "$READINESSPROBE_PORT" "$READINESSPROBE_PATH" 200 60
check "scrape annotation GET $METRICS_PATH :$METRICS_PORT -> 200" wait_code "$METRICS_PORT" "$METRICS_PATH" 200 5
check "no unknown-variable warning in the server log" bash -c "! grep -qi 'unknown environment variable' '$tmp/server.log'"
check "the log is JSON (STEMEDB_LOG_FORMAT=json)" bash -c "head -1 '$tmp/server.log' | node -e 'JSON.parse(require(\"fs\").readFileSync(0,\"utf8\"))' 2>/dev/null"
check "the root key never appears in the log" bash -c "! grep -qF '$root_key' '$tmp/server.log'"

assertion='{"subject":"k3s-conformance","predicate":"status","value":"ok","agent_id":"conformance"}'
check "POST /v1/assert without a key -> 401" test "$(code -X POST -H 'Content-Type: application/json' -d "$assertion" "$base/v1/assert")" = 401
check "GET /v1/admin/api-keys without a key -> 401" test "$(code "$base/v1/admin/api-keys")" = 401

new_key() { # new_key JSON -> prints the key
  curl -s --max-time 5 -H "X-API-Key: $root_key" -H 'Content-Type: application/json' -d "$1" "$base/v1/admin/api-keys" |
    grep -o 'steme_live_[0-9a-f]\{48\}' | head -1
}
write_key=$(new_key '{"label":"k3s-conformance","role":"write_agent","project":"conformance","rate_limit":"1/s,1"}')
backup_key=$(new_key '{"label":"k3s-backup","role":"backup"}')
check "root key (from the Secret) creates a write_agent and a backup key" test -n "$write_key" -a -n "$backup_key"
check "the backup key cannot administer keys (403)" test "$(code -H "X-API-Key: $backup_key" "$base/v1/admin/api-keys")" = 403

reply=$(curl -s --max-time 5 -w '\n%{http_code}' -H "X-API-Key: $write_key" -H 'Content-Type: application/json' -d "$assertion" "$base/v1/assert")
assertion_id=$(head -1 <<<"$reply" | node -e 'try{process.stdout.write(JSON.parse(require("fs").readFileSync(0,"utf8")).id||"")}catch{}')
check "authenticated POST /v1/assert -> 201 with an id" test "$(tail -1 <<<"$reply")" = 201 -a -n "$assertion_id"
limited=0
for _ in 1 2 3 4 5; do
  [[ $(code -H "X-API-Key: $write_key" -H 'Content-Type: application/json' -d "$assertion" "$base/v1/assert") == 429 ]] && limited=1
done
check "a key over its rate limit (1/s,1) gets 429" test "$limited" = 1

metrics=$(curl -s --max-time 5 "http://127.0.0.1:$METRICS_PORT$METRICS_PATH")
for m in "${RULE_METRICS[@]}"; do
  check "PrometheusRule metric $m is in $METRICS_PATH" grep -qE "^$m(\{| )" <<<"$metrics"
done

# --- backup CronJob, verbatim, against this server ---------------------------
remote_name=${BACKUP_REMOTE_VALUE%%:*}
remote_var="RCLONE_CONFIG_$(tr 'a-z-' 'A-Z_' <<<"$remote_name")_TYPE"
mkdir -p "$tmp/backup/work" && chown 1000:1000 "$tmp/backup/work"
# The cluster DNS name of the Service, resolved to this server.
{ echo "127.0.0.1 localhost $SERVICE_HOST"; echo "::1 localhost"; } >"$tmp/hosts"
mount --bind "$tmp/hosts" /etc/hosts
mapfile -t benv < <(resolve_env "${BACKUP_ENV[@]}")
# envFrom Secret: the rclone remote, here a local directory.
(cd "$tmp/backup/work" && exec timeout "$BACKUP_DEADLINE" env -i PATH="$PATH_IN_POD" "${benv[@]}" "$remote_var=local" \
  setpriv --reuid=1000 --regid=1000 --clear-groups -- "${BACKUP_CMD[@]}") >"$tmp/backup.log" 2>&1
rc=$?
if ! check "CronJob command '${BACKUP_CMD[*]}' exits 0" test "$rc" = 0; then
  sed 's/^/  backup: /' "$tmp/backup.log" | tail -10
  grep -i -e backup -e error "$tmp/server.log" | tail -5 | sed 's/^/  server: /'
fi
remote_dir="$tmp/backup/work/${BACKUP_REMOTE_VALUE#*:}"
archive=$(find "$remote_dir" -maxdepth 1 -type f -name "stemedb-*.tar" 2>/dev/null | sort | tail -1)
check "the backup landed on the rclone remote" test -n "$archive" -a -s "$archive"
no_keys_in() { ! grep -qF -e "$root_key" -e "${backup_key:-$root_key}" -e "${write_key:-$root_key}" "$@"; }
check "the backup and server logs hold no key" no_keys_in "$tmp/backup.log" "$tmp/server.log"

# --- restart: SIGTERM drain, key and data survive --------------------------
check "SIGTERM: exit 0 within terminationGracePeriodSeconds ($GRACE s)" stop_server
start_server "$tmp/server2.log"
check "restart: ready again" wait_code "$READINESSPROBE_PORT" "$READINESSPROBE_PATH" 200 60
sleep 1.5 # let the 1/s token bucket refill
check "restart: the write key still works and the write is there" test "$(code -H "X-API-Key: $write_key" "$base/v1/assertions/$assertion_id")" = 200
check "restart: the root key still works" test "$(code -H "X-API-Key: $root_key" "$base/v1/admin/api-keys")" = 200
check "SIGTERM after restart: exit 0 within ${GRACE} s" stop_server

# --- restore Job, verbatim, into the Deployment's emptied volumes -------------
# As after deleting the PVCs and re-applying k3s/data (k3s/README.md "Restore").
if [[ -n $archive ]]; then
  for d in "${SERVER_MOUNTS[@]}"; do find "$d" -mindepth 1 -delete; done
  mapfile -t renv < <(resolve_env "${RESTORE_ENV[@]}")
  restore_cmd=("${RESTORE_CMD[@]//'$(BACKUP_NAME)'/$(basename "$archive")}")
  run_restore() {
    (cd "$tmp/backup/work" && exec env -i PATH="$PATH_IN_POD" "${renv[@]}" "$remote_var=local" \
      setpriv --reuid=1000 --regid=1000 --clear-groups -- "${restore_cmd[@]}") >"$tmp/restore.log" 2>&1
  }
  run_restore
  check "restore Job command '${restore_cmd[*]}' exits 0" test $? = 0 || tail -5 "$tmp/restore.log"
  run_restore
  check "restore Job retried (Job backoff): exits 0, already restored" test $? = 0 || tail -5 "$tmp/restore.log"
  start_server "$tmp/server3.log"
  check "restored server (Deployment env unchanged): ready" wait_code "$READINESSPROBE_PORT" "$READINESSPROBE_PATH" 200 60
  check "restored server: the write is there" test "$(code -H "X-API-Key: $write_key" "$base/v1/assertions/$assertion_id")" = 200
  mapfile -t senv < <(resolve_env "${SMOKE_ENV[@]}")
  (cd "$tmp/backup/work" && exec timeout 300 env -i PATH="$PATH_IN_POD" "${senv[@]}" \
    setpriv --reuid=1000 --regid=1000 --clear-groups -- "${SMOKE_CMD[@]}") >"$tmp/smoke.log" 2>&1
  check "smoke Job command '${SMOKE_CMD[*]}' passes on the restored server" test $? = 0 || tail -5 "$tmp/smoke.log"
  check "restored server: SIGTERM exit 0" stop_server
fi

checks_done "k3s conformance"
